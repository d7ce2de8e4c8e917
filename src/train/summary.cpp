// Summary figures: step times are the median (p10, p90) after --timing-warmup steps.
#include "train/summary.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "config/config_json.h"
#include "metrics/percentiles.h"
#include "metrics/system_info.h"
#include "parallel/mixed_precision.h"

namespace parallax {
namespace {

nlohmann::json or_null(double value, bool present) {
  return present ? nlohmann::json(value) : nullptr;
}

}  // namespace

namespace {

// ranks[r].memory_measured: bytes by kind from the allocator; null where it could not say.
nlohmann::json measured_json(const RunFacts& facts, size_t r) {
  if (r >= facts.rank_measured_memory.size()) return nullptr;
  const MeasuredMemory& m = facts.rank_measured_memory[r];
  if (m.parameters < 0 && m.peak < 0) return nullptr;
  auto bytes = [](int64_t v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"source", facts.device.rfind("cuda", 0) == 0 ? "CUDA caching allocator"
                                                        : "malloc's allocated bytes"},
          {"parameters", bytes(m.parameters)},
          {"gradients", bytes(m.gradients)},
          {"optimizer_state", bytes(m.optimizer_state)},
          {"activations", bytes(m.activations)},
          {"other", bytes(m.other)},
          {"peak", bytes(m.peak)}};
}

// The steps after the timing warm-up, summed: what the step-time figures are made of.
struct TimedSteps {
  int64_t warmup = 0;  // steps left out
  std::vector<double> step_s;
  double compute_s = 0, comm_s = 0, gather_wait_s = 0, comm_busy_s = 0, data_s = 0, timed_s = 0;
  int64_t images_per_step = 0;
};

TimedSteps timed_steps_after_warmup(const Config& cfg, const TrainState& state) {
  TimedSteps t;
  // A run shorter than its warm-up (--steps 5 with 5 warm-up steps) is timed on its last step
  // rather than reported at 0 images/s.
  t.warmup = std::min<int64_t>(cfg.timing_warmup, std::max<int64_t>(0, state.step - 1));
  for (const auto& r : state.steps) {
    if (r.step < t.warmup) continue;
    t.step_s.push_back(r.step_s);
    t.compute_s += r.compute_s;
    t.comm_s += r.comm_s;
    t.comm_busy_s += r.comm_busy_s;
    t.gather_wait_s += r.gather_wait_s;
    t.data_s += r.data_s;
    t.timed_s += r.step_s;
    t.images_per_step = r.images;
  }
  return t;
}

// Versions and host, how the run stands, its config, model and data, and what ran it where.
void add_run_description(nlohmann::json& j, const Config& cfg, const TrainState& state,
                         const RunFacts& facts) {
  j["parallax_version"] = PARALLAX_VERSION;
  j["torch_version"] = torch_version();
  j["cuda_compiled"] = cuda_compiled();
  j["git_revision"] = git_revision();
  j["host"] = host_name();
  // "running" after each epoch, then how it ended: a crashed run's summary says "running".
  j["status"] = facts.status;
  if (!facts.stop_reason.empty()) j["stop_reason"] = facts.stop_reason;
  j["started_at"] = facts.started_at;
  j["finished_at"] = static_cast<int64_t>(std::time(nullptr));
  j["config"] = cfg;
  j["strategy"] = cfg.strategy;
  j["model"] = {{"name", cfg.model}, {"parameters", facts.model_parameters}};
  j["dataset"] = {{"name", cfg.dataset},
                  {"source", facts.dataset_source},
                  {"train_images", facts.train_images},
                  {"test_images", facts.test_images}};
  j["world_size"] = facts.world_size;
  j["launcher"] = facts.launcher;
  // torchrun --max-restarts: failed attempts restarted, and steps trained again after each (those
  // past the checkpoint the next attempt resumed from).
  j["restarts"] = state.restarts;
  j["steps_redone"] = state.steps_redone;
  j["threads_per_rank"] = facts.threads;
  j["device"] = facts.device;
  j["allocator"] = allocator_name();
  j["blas"] = blas_name();
  j["precision"] = precision_name(cfg.precision, facts.device.rfind("cuda", 0) == 0);
}

// Steps and epochs done, and the step times and throughput after the warm-up.
void add_step_figures(nlohmann::json& j, const TrainState& state, const TimedSteps& timed) {
  const Percentiles p = percentiles(timed.step_s);
  j["steps"] = state.step;
  j["skipped_steps"] = std::count_if(state.steps.begin(), state.steps.end(),
                                     [](const StepRecord& r) { return r.skipped; });
  j["epochs"] = state.epochs.size();
  j["timing_warmup_steps"] = timed.warmup;
  j["images_per_sec"] = p.median > 0 ? timed.images_per_step / p.median : 0.0;
  j["step_time_s"] = {
      {"median", p.median}, {"p10", p.p10}, {"p90", p.p90}, {"samples", timed.step_s.size()}};
  j["data_time_fraction"] = timed.timed_s > 0 ? timed.data_s / timed.timed_s : 0.0;
}

// Epoch times, the last epoch's loss and accuracy, and when the target accuracy was reached.
void add_epoch_figures(nlohmann::json& j, const Config& cfg, const TrainState& state) {
  double train_time_s = 0, epoch_sum = 0;
  for (const auto& e : state.epochs) epoch_sum += e.train_time_s;
  if (!state.epochs.empty()) train_time_s = state.epochs.back().elapsed_train_s;
  const bool have_epochs = !state.epochs.empty();
  const bool reached = state.epochs_to_target > 0;
  j["mean_epoch_time_s"] = or_null(have_epochs ? epoch_sum / state.epochs.size() : 0, have_epochs);
  j["train_time_s"] = train_time_s;
  j["final_loss"] = or_null(have_epochs ? state.epochs.back().train_loss : 0, have_epochs);
  j["test_accuracy"] = or_null(have_epochs ? state.epochs.back().test_accuracy : 0, have_epochs);
  j["target_accuracy"] = or_null(cfg.target_accuracy, cfg.target_accuracy > 0);
  j["epochs_to_target"] = reached ? nlohmann::json(state.epochs_to_target) : nullptr;
  j["time_to_target_s"] = or_null(state.time_to_target_s, reached);
}

// The task's figures: a language model's tokens/s, validation loss, perplexity and bits per
// token; every model's FLOPs per sample and per second, and MFU against the measured peak.
void add_task_figures(nlohmann::json& j, const Config& cfg, const TrainState& state,
                      const RunFacts& facts) {
  const double samples_per_sec = j["images_per_sec"].get<double>();
  const bool have_epochs = !state.epochs.empty();
  j["task"] = facts.language_model ? "language_model" : "classification";
  if (facts.language_model) {
    const double loss = have_epochs ? state.epochs.back().test_loss : 0;
    const auto t = static_cast<double>(facts.tokens_per_sample);
    j["tokens_per_sec"] = samples_per_sec * t;
    j["language_model"] = {
        {"context", facts.tokens_per_sample},
        {"vocabulary", facts.vocabulary},
        {"token", facts.token_unit},
        {"validation_loss", or_null(loss, have_epochs)},
        {"perplexity", or_null(std::exp(loss), have_epochs)},
        {"bits_per_token", or_null(loss / std::log(2.0), have_epochs)},
        {"target_loss", or_null(cfg.target_loss, cfg.target_loss > 0)}};
  }
  const double flops_per_sec = facts.training_flops_per_sample * samples_per_sec;
  const double peak = facts.peak_flops_per_rank * facts.world_size;
  j["flops"] = {
      {"training_flops_per_sample", facts.training_flops_per_sample},
      {"training_flops_per_token",
       or_null(facts.training_flops_per_sample / std::max<int64_t>(1, facts.tokens_per_sample),
               facts.language_model)},
      {"counted", "2 x the multiply-accumulates of every convolution, linear layer and attention "
                  "product (a tied head's too), x 3 for training"},
      {"achieved_flops_per_sec", flops_per_sec},
      {"peak_flops_per_rank", facts.peak_flops_per_rank},
      {"peak_source", facts.peak_flops_source},
      {"mfu", or_null(peak > 0 ? flops_per_sec / peak : 0, peak > 0 && samples_per_sec > 0)}};
}

// Compute and communication time after the warm-up, and the idle share of pipelines.
void add_comm_figures(nlohmann::json& j, const TimedSteps& timed, const RunFacts& facts) {
  j["compute_s"] = timed.compute_s;
  j["comm_s"] = timed.comm_s;  // communication compute did not hide (waits), after the warm-up
  // comm_s in two: waits for the gradients' collectives (all-reduce, reduce-scatter), and ZeRO's
  // for its parameters' all-gathers.
  const double grad_wait_s = timed.comm_s - timed.gather_wait_s;
  j["comm_grad_wait_s"] = grad_wait_s;
  j["comm_gather_wait_s"] = timed.gather_wait_s;
  j["comm_busy_s"] = timed.comm_busy_s;  // the gradients' collectives in flight
  // Share of the gradients' collectives that backward's compute covered: 1 - exposed / in flight.
  j["comm_hidden_fraction"] =
      or_null(timed.comm_busy_s > 0 ? std::max(0.0, 1.0 - grad_wait_s / timed.comm_busy_s) : 0,
              timed.comm_busy_s > 0);
  // Pipelines: the idle share of a step, measured per stage and averaged (null otherwise).
  j["bubble_fraction"] = facts.details.contains("bubble_fraction")
                             ? facts.details["bubble_fraction"]
                             : nlohmann::json(nullptr);
}

// ranks[r]: the rank's memory as the process, the CUDA allocator and the strategy count it.
// ranks[r].timing: its steps after the warm-up, whole, working and waiting on the others.
nlohmann::json timing_json(const RunFacts& facts, size_t r) {
  if (r >= facts.rank_timing.size()) return nullptr;
  const RankTiming& t = facts.rank_timing[r];
  auto pair = [](const Percentiles& p) { return nlohmann::json{{"median", p.median}, {"p90", p.p90}}; };
  return {{"step_s", pair(t.step_s)}, {"work_s", pair(t.work_s)}, {"wait_s", pair(t.wait_s)}};
}

// ranks[r].checkpoint: its last save and its load, measured (null where it did neither).
nlohmann::json checkpoint_io_json(const RunFacts& facts, size_t r) {
  if (r >= facts.rank_checkpoint_io.size()) return nullptr;
  const auto& [save, load] = facts.rank_checkpoint_io[r];
  const auto bytes = [](int64_t b) { return b < 0 ? nlohmann::json(nullptr) : nlohmann::json(b); };
  return {{"save_s", save.seconds > 0 ? nlohmann::json(save.seconds) : nlohmann::json(nullptr)},
          {"load_s", load.seconds > 0 ? nlohmann::json(load.seconds) : nlohmann::json(nullptr)},
          {"load_peak_bytes", bytes(load.peak_bytes)},
          {"load_state_bytes", bytes(load.state_bytes)}};
}

nlohmann::json rank_summary_json(const RunFacts& facts, size_t r) {
  const MemoryStats& m = facts.rank_memory[r];
  return {
      {"rank", r},
      {"peak_memory_bytes", facts.rank_peak_rss.at(r)},
      {"peak_memory_kind", "process peak RSS"},
      {"device_memory",
       facts.rank_device_memory.at(r).allocated < 0
           ? nlohmann::json(nullptr)
           : nlohmann::json{{"source", "CUDA caching allocator"},
                            {"allocated_bytes", facts.rank_device_memory[r].allocated},
                            {"reserved_bytes", facts.rank_device_memory[r].reserved},
                            {"peak_allocated_bytes", facts.rank_device_memory[r].peak_allocated}}},
      {"param_bytes", m.param_bytes},
      {"grad_bytes", m.grad_bytes},
      {"optimizer_state_bytes", m.optimizer_state_bytes},
      {"memory_measured", measured_json(facts, r)},
      {"timing", timing_json(facts, r)},
      {"checkpoint", checkpoint_io_json(facts, r)}};
}

// The rank that works longest, where that stands out beyond noise (metrics/stragglers.h).
nlohmann::json straggler_json(const RunFacts& facts) {
  const auto s = find_straggler(facts.rank_timing);
  if (!s) return nullptr;
  return {{"rank", s->rank},
          {"work_ratio", s->work_ratio},
          {"others_wait_fraction", s->others_wait_fraction},
          {"reading", s->reading}};
}

}  // namespace

nlohmann::json make_summary(const Config& cfg, const TrainState& state, const RunFacts& facts) {
  const TimedSteps timed = timed_steps_after_warmup(cfg, state);
  nlohmann::json j;
  add_run_description(j, cfg, state, facts);
  add_step_figures(j, state, timed);
  add_epoch_figures(j, cfg, state);
  add_comm_figures(j, timed, facts);
  add_task_figures(j, cfg, state, facts);
  j["ranks"] = nlohmann::json::array();
  for (size_t r = 0; r < facts.rank_memory.size(); ++r)
    j["ranks"].push_back(rank_summary_json(facts, r));
  j["straggler"] = straggler_json(facts);
  if (!facts.checkpoint_format.empty()) j["checkpoint_format"] = facts.checkpoint_format;
  if (!facts.details.is_null() && !facts.details.empty()) j["strategy_details"] = facts.details;
  return j;
}

}  // namespace parallax
