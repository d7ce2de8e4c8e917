// Fixture runs for the report tests: every strategy, 2 repeats each, one failed run, built in code.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "metrics/atomic_file.h"
#include "metrics/run_record.h"

namespace parallax::testing {

// One configuration of the fixture. Numbers follow what ResNet-50 at 32x32, global batch 120,
// one thread per rank does on a 2-core CPU machine (see DESIGN.md's performance notes).
struct FixtureConfig {
  std::string label, name, strategy;
  int nproc = 1;
  int split_size = 0;                      // pipeline micro-batch size; 0 otherwise
  double images_per_sec[2] = {0, 0};       // per repeat
  double comm_exposed = 0, comm_busy = 0;  // shares of a step
  double bubble = -1, bubble_theory = -1;  // pipeline shares of a step; -1: not a pipeline
  double accuracy_offset = 0;              // test accuracy relative to single
  double optimizer_share = 1.0;            // optimizer state per rank relative to ddp's
  std::vector<double> activation_bytes;    // pipeline stages' peak activations, per rank
};

constexpr int kFixtureBatch = 120;
constexpr int kFixtureTrainImages = 1200;
// The 95% interval of an accuracy near 58%: ±3.1%; of a difference of two: about ±4.3%.
constexpr int kFixtureTestImages = 1000;
constexpr int kFixtureEpochs = 4;
constexpr int kFixtureWarmup = 3;
constexpr double kFixtureTarget = 0.5;
constexpr double kResnet50Bytes = 94114088;  // 23,528,522 float parameters
// Stage split of ResNet-50 at layer3.0: parameter bytes of stage 0 and stage 1.
constexpr double kStageBytes[2] = {5779712, 88334376};

inline std::vector<FixtureConfig> fixture_configs() {
  // clang-format off
  // label, name, strategy, nproc, split, img/s per repeat, comm exposed, comm busy, bubble,
  // bubble theory, accuracy offset, optimizer share, activations per rank
  return {
      {"single", "single", "single", 1, 0, {120.0, 116.0}, 0, 0, -1, -1, 0.0, 1.0, {}},
      {"ddp 1 rank", "ddp1", "ddp", 1, 0, {118.0, 114.0}, 0, 0, -1, -1, 0.005, 1.0, {}},
      {"ddp 2 ranks", "ddp2", "ddp", 2, 0, {204.0, 196.0}, 0.12, 0.45, -1, -1, -0.01, 1.0, {}},
      {"zero-1 2 ranks", "zero2", "zero", 2, 0, {192.0, 188.0}, 0.15, 0.5, -1, -1, -0.01, 0.5, {}},
      {"model 2 ranks", "model2", "model", 2, 0, {65.0, 63.0}, 0, 0, 0.52, 0.5, 0.0, 1.0,
       {480000000, 180000000}},
      {"pipeline split-size 10", "pipe10", "pipeline", 2, 10, {96.0, 92.0}, 0, 0, 0.16, 1.0 / 13,
       0.005, 1.0, {90000000, 35000000}},
      {"pipeline split-size 20", "pipe20", "pipeline", 2, 20, {106.0, 102.0}, 0, 0, 0.22, 1.0 / 7,
       0.0, 1.0, {159509152, 59160608}},
      {"pipeline split-size 40", "pipe40", "pipeline", 2, 40, {90.0, 86.0}, 0, 0, 0.31, 0.25,
       -0.005, 1.0, {300000000, 110000000}},
  };
  // clang-format on
}

inline nlohmann::json fixture_config_json(const FixtureConfig& c) {
  const bool staged = c.strategy == "model" || c.strategy == "pipeline";
  return {{"strategy", c.strategy},
          {"nproc", c.nproc},
          {"batch_size", kFixtureBatch},
          {"split_size", c.split_size},
          {"micro_batches", 0},
          {"model", "resnet50"},
          {"dataset", "synthetic"},
          {"synthetic_kind", "pattern"},
          {"image_size", 32},
          {"threads", 1},
          {"epochs", kFixtureEpochs},
          {"target_accuracy", kFixtureTarget},
          {"zero_stage", 1},
          {"pipeline_schedule", "gpipe"},
          {"split_at", staged ? "layer3.0" : ""},
          {"timing_warmup", kFixtureWarmup}};
}

inline RunRecord fixture_run(const FixtureConfig& c, int repeat) {
  static const double kAccuracy[kFixtureEpochs] = {0.31, 0.44, 0.53, 0.58};
  static const double kLoss[kFixtureEpochs] = {2.10, 1.62, 1.31, 1.12};
  RunRecord r;
  r.name = c.name + "-r" + std::to_string(repeat);
  r.suite = "fixture";
  r.label = c.label;
  r.repeat = repeat;
  r.status = "finished";
  r.host = "vm";
  r.config = fixture_config_json(c);
  const double ips = c.images_per_sec[repeat];
  const double epoch_s = kFixtureTrainImages / ips;
  const int steps_per_epoch = kFixtureTrainImages / kFixtureBatch;
  double reached_epochs = 0, reached_s = 0;
  for (int e = 0; e < kFixtureEpochs; ++e) {
    EpochRow row;
    row.epoch = e;
    row.steps = steps_per_epoch;
    row.train_loss = kLoss[e] - c.accuracy_offset - 0.02 * repeat;
    row.train_accuracy = kAccuracy[e] + 0.03 + c.accuracy_offset;
    row.test_loss = row.train_loss + 0.15;
    row.test_accuracy = kAccuracy[e] + c.accuracy_offset + 0.01 * repeat;
    row.train_time_s = epoch_s;
    row.eval_time_s = 0.6;
    row.images_per_sec = ips;
    row.lr = 0.05;
    row.elapsed_train_s = epoch_s * (e + 1);
    if (reached_epochs == 0 && row.test_accuracy >= kFixtureTarget) {
      reached_epochs = e + 1;
      reached_s = row.elapsed_train_s;
    }
    r.epochs.push_back(row);
  }
  const double step_s = kFixtureBatch / ips;
  const int samples = kFixtureEpochs * steps_per_epoch - kFixtureWarmup;
  const double bubble = c.bubble < 0 ? 0 : c.bubble;
  const double compute_share = 1.0 - bubble - c.comm_exposed - 0.03;  // 3%: data, optimizer
  nlohmann::json& s = r.summary;
  s["strategy"] = c.strategy;
  s["world_size"] = c.nproc;
  s["dataset"] = {{"name", "synthetic"},
                  {"train_images", kFixtureTrainImages},
                  {"test_images", kFixtureTestImages}};
  s["images_per_sec"] = ips;
  s["train_time_s"] = r.epochs.back().elapsed_train_s;
  s["mean_epoch_time_s"] = epoch_s;
  s["final_loss"] = r.epochs.back().train_loss;
  s["test_accuracy"] = r.epochs.back().test_accuracy;
  s["target_accuracy"] = kFixtureTarget;
  s["epochs_to_target"] = reached_epochs > 0 ? nlohmann::json(reached_epochs) : nullptr;
  s["time_to_target_s"] = reached_epochs > 0 ? nlohmann::json(reached_s) : nullptr;
  s["steps"] = kFixtureEpochs * steps_per_epoch;
  s["timing_warmup_steps"] = kFixtureWarmup;
  s["step_time_s"] = {
      {"median", step_s}, {"p10", step_s * 0.96}, {"p90", step_s * 1.05}, {"samples", samples}};
  s["compute_s"] = compute_share * step_s * samples;
  s["comm_s"] = c.comm_exposed * step_s * samples;
  s["comm_busy_s"] = c.comm_busy * step_s * samples;
  s["comm_hidden_fraction"] =
      c.comm_busy > 0 ? nlohmann::json(1.0 - c.comm_exposed / c.comm_busy) : nullptr;
  s["bubble_fraction"] = c.bubble < 0 ? nlohmann::json(nullptr) : nlohmann::json(c.bubble);
  s["ranks"] = nlohmann::json::array();
  const bool staged = c.bubble >= 0;
  for (int rank = 0; rank < c.nproc; ++rank) {
    const double model = staged ? kStageBytes[rank] : kResnet50Bytes;
    s["ranks"].push_back({{"rank", rank},
                          {"param_bytes", model},
                          {"grad_bytes", model},
                          {"optimizer_state_bytes", model * c.optimizer_share},
                          {"peak_memory_bytes", staged ? 480e6 + 80e6 * rank : 1.05e9},
                          {"peak_memory_kind", "process peak RSS"}});
  }
  if (c.comm_busy > 0) {
    // Three gradient buckets: the first and the middle one hidden under backward but for a
    // little of the middle's; the last, launched when backward ends, waited for most. ZeRO's
    // buckets leave 0.05 of the step to the parameters' all-gather.
    const double waited = (c.strategy == "zero" ? c.comm_exposed - 0.05 : c.comm_exposed) * step_s;
    const double mib = 1024.0 * 1024.0;
    s["strategy_details"] = {
        {"buckets",
         {{{"bytes", 1 * mib}, {"mean_wait_s", 0.0}, {"mean_in_flight_s", 0.1 * step_s}},
          {{"bytes", 88 * mib}, {"mean_wait_s", 0.2 * waited}, {"mean_in_flight_s", 0.3 * step_s}},
          {{"bytes", 1 * mib}, {"mean_wait_s", 0.8 * waited}, {"mean_in_flight_s", waited}}}}};
  }
  if (staged) {
    const int micro = kFixtureBatch / (c.split_size > 0 ? c.split_size : kFixtureBatch);
    nlohmann::json d = {{"bubble_fraction", c.bubble},
                        {"bubble_fraction_theory", c.bubble_theory},
                        {"micro_batch_size", kFixtureBatch / micro},
                        {"micro_batches", micro},
                        {"schedule", "gpipe"},
                        {"stages", c.nproc},
                        {"ranks", nlohmann::json::array()}};
    for (int rank = 0; rank < c.nproc; ++rank)
      d["ranks"].push_back({{"stage", rank},
                            {"busy_s", step_s * (1 - c.bubble)},
                            {"recv_wait_s", step_s * c.bubble},
                            {"step_s", step_s},
                            {"peak_activation_bytes", c.activation_bytes.at(rank)}});
    s["strategy_details"] = d;
  }
  return r;
}

// The fixture: 8 configurations x 2 repeats, then one failed run (its own label).
inline std::vector<RunRecord> fixture_runs() {
  std::vector<RunRecord> runs;
  for (const FixtureConfig& c : fixture_configs())
    for (int repeat = 0; repeat < 2; ++repeat) runs.push_back(fixture_run(c, repeat));
  runs[0].note = "cifar10 absent: synthetic stand-in of the same shape";
  RunRecord failed;
  failed.name = "ddp4-r0";
  failed.suite = "fixture";
  failed.label = "ddp 4 ranks";
  failed.status = "failed";
  failed.error = "rank 2 failed first: Gloo connection closed by peer";
  FixtureConfig ddp4{"ddp 4 ranks", "ddp4", "ddp", 4, 0, {0, 0}, 0, 0, -1, -1, 0, 1, {}};
  failed.config = fixture_config_json(ddp4);
  runs.push_back(failed);
  return runs;
}

// Steady-clock origins of the fixture's two rank traces: rank 1 started 250 us after rank 0.
constexpr double kRank0Origin = 5000000.0, kRank1Origin = 5000250.0;

// Writes run_dir/trace/rank0.json and rank1.json: a 2-stage pipeline's first micro-batch.
inline void write_fixture_traces(const std::string& run_dir, bool with_origins = true) {
  const std::string trace_dir = run_dir + "/trace";
  std::filesystem::create_directories(trace_dir);
  for (int rank = 0; rank < 2; ++rank) {
    nlohmann::json events = nlohmann::json::array();
    events.push_back({{"ph", "M"},
                      {"name", "process_name"},
                      {"pid", rank},
                      {"tid", 0},
                      {"args", {{"name", "rank " + std::to_string(rank)}}}});
    const std::string lane = rank == 0 ? "compute" : "wait";
    events.push_back({{"ph", "X"},
                      {"name", rank == 0 ? "F0" : "recv act 0"},
                      {"cat", lane},
                      {"pid", rank},
                      {"tid", 0},
                      {"ts", 1000.0},
                      {"dur", 56000.0}});
    events.push_back({{"ph", "X"},
                      {"name", rank == 0 ? "B0" : "F0"},
                      {"cat", "compute"},
                      {"pid", rank},
                      {"tid", 0},
                      {"ts", 60000.0},
                      {"dur", 40000.0}});
    nlohmann::json trace = {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
    if (with_origins)
      trace["otherData"] = {{"steady_origin_us", rank == 0 ? kRank0Origin : kRank1Origin},
                            {"host", "vm"}};
    write_file_atomic(trace_dir + "/rank" + std::to_string(rank) + ".json", trace.dump());
  }
}

}  // namespace parallax::testing
