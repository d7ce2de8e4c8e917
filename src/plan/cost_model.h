// The cost model: a candidate's step time on a profiled machine, with the parts it is made of and
// a one-line reason in numbers. Pure (a Profile in, seconds out) and table-tested; profiling and
// running are elsewhere (plan/profiler.h, plan/plan_check.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "plan/profile.h"

namespace parallax {

struct PlanCandidate {
  std::string label;     // "ddp", "zero-2", "pipeline zb-h1 m8", "hybrid 2x2 1f1b m4" ...
  std::string strategy;  // single | ddp | zero | model | pipeline | hybrid
  int world = 1, dp = 1, pp = 1;
  int zero_stage = 1;
  bool overlap = true;   // ddp/zero: reduce buckets while backward runs
  double first_bucket_mb = 1, bucket_mb = 25, tail_bucket_mb = 1;
  bool wire_bf16 = false;  // --grad-reduce-dtype bf16
  bool reshard_after_forward = true;  // ZeRO-3: gather again for backward
  std::string schedule = "1f1b";
  int micro_batches = 1;
  int virtual_stages = 1;
  std::vector<size_t> cuts;  // pipeline pieces (pp x virtual_stages): first blocks, then the count
  std::string recompute = "none";  // --recompute: none | full | selective
  std::vector<std::string> args;  // the `parallax train` options that run it (for --check)
};

struct PredictedStep {
  double step_s = 0, images_per_sec = 0;
  double forward_s = 0, backward_s = 0;  // compute on the busiest rank, slowdown included
  double comm_s = 0;          // collectives' total time
  double exposed_comm_s = 0;  // the part nothing hides
  double hidden_fraction = 0; // 1 - exposed / total (0 without communication)
  double bubble = 0;          // pipelines: idle share of the step (simulated)
  double optimizer_s = 0;
  double slowdown = 1;        // the compute slowdown applied (ranks sharing the machine)
  std::string reason;         // "ddp: backward 410 ms, 90 MiB all-reduce at 1.9 GB/s = 96 ms, ..."
};

// `batch` is the global batch per step. std::invalid_argument for a candidate the profile cannot
// price (no block times, cuts that do not fit the blocks).
PredictedStep predict_step(const Profile& profile, const PlanCandidate& candidate, int64_t batch);

// The rows one micro-batch of the candidate has (what the profile needs block times at).
int64_t candidate_rows(const PlanCandidate& c, int64_t batch);

// Pieces of the data-parallel timelines, exposed for tests. A serial communication queue:
// message k becomes ready at ready[k] and takes cost[k]; returns each one's end.
std::vector<double> serial_queue(const std::vector<double>& ready, const std::vector<double>& cost);
// Seconds of [a0, a1) inside [b0, b1).
double overlap_s(double a0, double a1, double b0, double b1);

// The strategy-specific parts (plan/dp_cost.cpp, plan/pipeline_cost.cpp).
PredictedStep predict_data_parallel(const Profile& p, const PlanCandidate& c, int64_t batch);
PredictedStep predict_pipeline(const Profile& p, const PlanCandidate& c, int64_t batch);

// "410 ms", "1.9 GB/s", "90 MiB": the reason's units.
std::string ms_text(double s);
std::string rate_text(double bytes_per_s);
std::string mib_text(double bytes);

}  // namespace parallax
