// Report data: runs grouped by label, their statistics over repeats, and the baselines.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "metrics/run_record.h"

namespace parallax {

// Mean, min, max and standard deviation of the repeats that have the figure (n == 0: none has).
struct Stat {
  int n = 0;
  double mean = 0, min = 0, max = 0, stddev = 0;
  bool present() const { return n > 0; }
};
Stat stat_of(const std::vector<double>& values);

// A number at a JSON path such as {"step_time_s", "median"}; nullopt when absent, null or not a
// number (summaries of short or failed runs leave many figures null).
std::optional<double> json_number(const nlohmann::json& j, std::initializer_list<const char*> path);
std::string json_string(const nlohmann::json& j,
                        std::initializer_list<const char*> path);  // "" if absent

// The strategy as the report names it: "zero-1"/"zero-2" (the stage changes the memory story),
// otherwise the strategy of summary.json or config.json.
std::string strategy_name(const RunRecord& run);
int world_size_of(const RunRecord& run);

// One configuration: every run that shares a label.
struct ConfigGroup {
  std::string label;
  std::string strategy;  // strategy_name() of its first run
  int world = 1;
  std::vector<const RunRecord*> finished;    // finished repeats, in repeat order
  std::vector<const RunRecord*> unfinished;  // failed or still running

  Stat train_time_s, images_per_sec, mean_epoch_time_s, test_accuracy, final_loss;
  // A language model (summary.json's task): its metric is the validation loss, not accuracy.
  bool language_model = false;
  Stat validation_loss, tokens_per_sec;
  Stat mfu;  // model FLOPs utilisation against the measured peak (summary flops.mfu)
  Stat epochs_to_target, time_to_target_s;  // over the repeats that reached the target
  Stat target_accuracy;
  Stat step_time_s;                                             // median step time
  Stat compute_per_step_s, comm_per_step_s, bubble_per_step_s;  // see breakdown_note()
  Stat comm_busy_per_step_s;  // time the gradients' collectives were in flight, hidden or not
  // Of comm_per_step_s, ZeRO's waits for its parameters' all-gathers (summaries that split them).
  Stat gather_wait_per_step_s;
  // ddp and zero: each gradient bucket, in launch order, per timed step (the mean over the
  // finished repeats): its bytes on the wire, the time finalize() waited for it after backward,
  // its flight.
  struct Bucket {
    double bytes = 0, wait_s = 0, in_flight_s = 0;
  };
  std::vector<Bucket> buckets;
  Stat bubble_fraction, bubble_fraction_theory;
  // Pipelines: the bubble from the run's profiled F, B, I, W times (its schedule played out),
  // and the larger rank's peak activation bytes (from the allocator).
  Stat bubble_fraction_profiled, peak_activation_bytes;
  std::optional<double> micro_batch_size, micro_batches, stages;  // pipelines and `model`
  // Pipelines and `model`: per run, the busiest stage's busy time over the least busy one's
  // (1 when balanced); a stage imbalance is one known cause of a slow pipeline.
  Stat stage_imbalance;
  // Images in the global batch (config batch_size) and in the test set (summary.json
  // dataset.test_images): accuracies compare only within the test set's binomial interval.
  std::optional<double> global_batch, test_images;
  std::string schedule;  // pipeline schedule ("gpipe", "1f1b", "zb-h1"...); "" for others
  // What was trained: model, data, image size and batch. Times compare only within one workload
  // (a suite may time 128x128 and 32x32 runs side by side), so every baseline shares it.
  std::string workload;

  const RunRecord* first() const { return finished.empty() ? nullptr : finished.front(); }
};

struct ReportData {
  std::vector<ConfigGroup> groups;  // in order of the labels' first runs
  nlohmann::json plan;              // RUNS/plan.json after `plan --check`; null if none
  const ConfigGroup* find(const std::string& label) const;
  // Groups with at least one finished repeat.
  std::vector<const ConfigGroup*> finished() const;
  // Whether any configuration is a language model: curves and targets are then losses.
  bool language_models() const;
  // The first finished group of a strategy at a world size (world 0: any), of a workload ("": any).
  const ConfigGroup* first_of(const std::string& strategy, int world = 0,
                              const std::string& workload = "") const;
  // The fastest (images/s) finished group of a strategy at a world size and workload ("": any).
  const ConfigGroup* fastest_of(const std::string& strategy, int world,
                                const std::string& workload = "") const;
  // Scaling baseline of a strategy on a workload: its own 1-rank group, else `single`.
  const ConfigGroup* scaling_base(const std::string& strategy, const std::string& workload) const;
  // The baselines of `like`'s workload (nullptr when that workload has none).
  const ConfigGroup* single(const ConfigGroup& like) const {
    return first_of("single", 0, like.workload);
  }
  const ConfigGroup* naive_model(const ConfigGroup& like) const {
    return first_of("model", 0, like.workload);
  }
  // The workload whose pipeline runs cover the most split sizes ("" if none): the sweep.
  std::string sweep_workload() const;
};

// Groups runs by label (a run without a label is its own group, named after the run). The
// records must outlive the result: groups point into them.
ReportData group_runs(const std::vector<RunRecord>& runs);

// One point of the scaling chart: the fastest configuration of a strategy at a world size, and
// its efficiency = throughput / (world x the strategy's 1-rank throughput, else single's).
struct ScalingPoint {
  std::string strategy;
  int world = 1;
  double images_per_sec = 0;
  double efficiency = 0;
  const ConfigGroup* group = nullptr;
  const ConfigGroup* base = nullptr;
};
// Strategies in order of first appearance, then world size; only strategies that have a point
// above one rank and a baseline (a 1-rank point is kept as the start of the line).
std::vector<ScalingPoint> scaling_points(const ReportData& data);

// Memory of one rank in the first finished repeat of a configuration, in bytes.
struct RankMemory {
  int rank = 0;
  double params = 0, grads = 0, optimizer = 0;
  double activations = 0;  // ranks[].activation_bytes, else the pipeline stage's peak activations
  double other = 0;        // measured: the step's peak less the four kinds
  bool measured = false;   // from ranks[].memory_measured (the allocator), not the tensors' sizes
  std::optional<double> peak;  // process peak RSS (includes everything else the process holds)
};
std::vector<RankMemory> rank_memory(const ConfigGroup& group);

}  // namespace parallax
