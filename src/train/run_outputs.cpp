// The run's files, written after each epoch and step; the collective parts run on every rank.
#include "train/run_outputs.h"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "distributed/collectives.h"
#include "metrics/atomic_file.h"
#include "metrics/run_files.h"
#include "metrics/system_info.h"
#include "train/checkpoint.h"
#include "train/run_dir.h"

namespace parallax {
namespace {

// Every rank's memory figures, gathered on every rank (a collective).
void gather_rank_memory(const DistContext& ctx, const Strategy& strategy, RunFacts& facts) {
  const DeviceMemory gpu = device_memory(ctx.device);
  const MemoryStats mine = strategy.memory();
  const MeasuredMemory measured = strategy.measured_memory();
  const auto row = torch::tensor(
      {mine.param_bytes, mine.grad_bytes, mine.optimizer_state_bytes, peak_rss_bytes(),
       gpu.allocated, gpu.reserved, gpu.peak_allocated, measured.parameters, measured.gradients,
       measured.optimizer_state, measured.activations, measured.other, measured.peak},
      torch::kLong);
  const auto rows = all_gather_rows(ctx.world_pg, ctx.world, row, ctx.device);
  facts.rank_memory.clear();
  facts.rank_peak_rss.clear();
  facts.rank_device_memory.clear();
  facts.rank_measured_memory.clear();
  for (const auto& r : rows) {
    const auto host = r.cpu();
    const int64_t* v = host.data_ptr<int64_t>();
    facts.rank_memory.push_back({v[0], v[1], v[2]});
    facts.rank_peak_rss.push_back(v[3]);
    facts.rank_device_memory.push_back({v[4], v[5], v[6]});
    facts.rank_measured_memory.push_back({v[7], v[8], v[9], v[10], v[11], v[12]});
  }
}

// Every rank's step times, split into work and waiting, gathered on every rank (a collective):
// median, p10 and p90 of each after the timing warm-up.
void gather_rank_timing(const Config& cfg, const DistContext& ctx, const TrainState& s,
                        RunFacts& facts) {
  const int64_t warmup = std::min<int64_t>(cfg.timing_warmup, std::max<int64_t>(0, s.step - 1));
  const RankTiming t = rank_timing(s.steps, warmup);
  std::vector<double> v;
  for (const Percentiles* p : {&t.step_s, &t.work_s, &t.wait_s})
    v.insert(v.end(), {p->median, p->p10, p->p90});
  // And its checkpoint figures, in the same gathering.
  v.insert(v.end(), {facts.save_io.seconds, facts.load_io.seconds,
                     static_cast<double>(facts.load_io.peak_bytes),
                     static_cast<double>(facts.load_io.state_bytes)});
  const auto rows = all_gather_rows(ctx.world_pg, ctx.world, torch::tensor(v, torch::kDouble),
                                    ctx.device);
  facts.rank_timing.clear();
  facts.rank_checkpoint_io.clear();
  for (const auto& r : rows) {
    const auto host = r.cpu();
    const double* x = host.data_ptr<double>();
    facts.rank_timing.push_back({{x[0], x[1], x[2]}, {x[3], x[4], x[5]}, {x[6], x[7], x[8]}});
    facts.rank_checkpoint_io.push_back(
        {CheckpointIo{x[9]}, CheckpointIo{x[10], static_cast<int64_t>(x[11]),
                                          static_cast<int64_t>(x[12])}});
  }
}

// Rank 0's TensorBoard log under --tensorboard's folder ({run_dir} in it names the run's).
std::unique_ptr<TensorboardLog> open_tensorboard(const Config& cfg, const DistContext& ctx,
                                                 const std::string& run_dir) {
  std::unique_ptr<TensorboardLog> tensorboard;
  if (ctx.is_root() && !cfg.tensorboard.empty()) {
    std::string dir = cfg.tensorboard;
    if (const size_t at = dir.find("{run_dir}"); at != std::string::npos)
      dir.replace(at, 9, run_dir);
    tensorboard = std::make_unique<TensorboardLog>(dir, cfg.log_every);
  }
  return tensorboard;
}

}  // namespace

RunOutputs::RunOutputs(const Config& cfg, const DistContext& ctx, std::string run_dir,
                       Strategy& strategy, RunFacts& facts, bool verbose,
                       const EpochHook& after_epoch)
    : cfg_(cfg),
      ctx_(ctx),
      run_dir_(std::move(run_dir)),
      strategy_(strategy),
      facts_(facts),
      verbose_(verbose),
      after_epoch_(after_epoch),
      tensorboard_(open_tensorboard(cfg, ctx, run_dir_)) {}

void RunOutputs::write_summary(const TrainState& s) {
  write_file_atomic(run_dir_ + "/summary.json", make_summary(cfg_, s, facts_).dump(2) + "\n");
}

void RunOutputs::epoch_done(const TrainState& s) {
  // Collective parts first, on every rank: the checkpoint (ZeRO gathers its shards) and the
  // per-rank memory figures.
  if (cfg_.checkpoint) facts_.save_io = save_checkpoint(run_dir_, strategy_, s, cfg_, ctx_);
  gather_rank_memory(ctx_, strategy_, facts_);
  gather_rank_timing(cfg_, ctx_, s, facts_);
  facts_.details = strategy_.details();  // a collective for some strategies
  if (!ctx_.is_root()) {
    if (after_epoch_) after_epoch_(s);
    return;
  }
  write_run_tables(run_dir_, s);
  write_summary(s);
  if (tensorboard_ && !s.epochs.empty())
    tensorboard_->epoch(s.epochs.back(), s.step, facts_.rank_measured_memory, facts_.rank_peak_rss);
  if (after_epoch_) after_epoch_(s);
}

void RunOutputs::step_done(const TrainState& s, int64_t epoch_batches) {
  if (tensorboard_) tensorboard_->step(s.steps.back());
  const bool epoch_ends =
      s.in_epoch.steps == epoch_batches || (cfg_.steps > 0 && s.step >= cfg_.steps);
  if (cfg_.checkpoint_every > 0 && s.step % cfg_.checkpoint_every == 0 && !epoch_ends)
    facts_.save_io = save_checkpoint(run_dir_, strategy_, s, cfg_, ctx_);
}

void RunOutputs::record_stop(const TrainState& state, const std::string& status,
                             const std::string& why) {
  gather_rank_memory(ctx_, strategy_, facts_);
  gather_rank_timing(cfg_, ctx_, state, facts_);
  if (!ctx_.is_root()) return;
  facts_.status = status;
  facts_.stop_reason = why;
  write_run_tables(run_dir_, state);
  write_summary(state);
  record_run(run_dir_, verbose_);
}

void RunOutputs::finish(const TrainState& state, bool files_behind) {
  // Resumed with nothing left to train, after a kill between the last checkpoint and the run's
  // files: complete them from the checkpoint's state.
  if (files_behind) epoch_done(state);
  if (ctx_.is_root()) {
    facts_.status = "finished";
    write_summary(state);
  }
  if (cfg_.trace) {
    std::error_code ec;
    std::filesystem::create_directories(run_dir_ + "/trace", ec);
    strategy_.write_trace(run_dir_ + "/trace/rank" + std::to_string(ctx_.rank) + ".json");
  }
  if (ctx_.is_root()) record_run(run_dir_, verbose_);
  if (verbose_) std::fprintf(stderr, "parallax: wrote %s/summary.json\n", run_dir_.c_str());
}

}  // namespace parallax
