// The compute half of `plan`'s profile, on this rank's device: each block's F, B, I and W
// seconds at each micro-batch size (B from one chained backward, timed between the gradients'
// arrivals at the block boundaries, as training runs it; I from the block alone, asking autograd
// for its input's gradient only; W = B - I), the loss, the optimizer per parameter, and the
// chained forward + backward the slowdown probe repeats.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "config/config.h"
#include "parallel/mixed_precision.h"
#include "plan/profile.h"

namespace parallax {

class ModelBlocks;

struct ComputeProbe {
  ModelBlocks* model = nullptr;
  std::vector<int64_t> sample;  // one image: C, H, W
  Precision precision;
  bool channels_last = false;
  torch::Device device = torch::kCPU;
  int repeats = 5;  // timed runs after one warm-up; the fastest counts
};

// Fills blocks_by_rows (for each of `rows`), output_bytes_per_row and loss_s_per_row.
void profile_blocks(const ComputeProbe& probe, const std::vector<int64_t>& rows, Profile& out,
                    const std::function<void(const std::string&)>& progress);

// Seconds of one chained forward + loss + backward at `rows` (one run, after `warm` untimed).
double time_forward_backward(const ComputeProbe& probe, int64_t rows, int warm = 0);

// The optimizer's step and a gradient average (a divide), seconds per parameter element.
void profile_optimizer(const Config& cfg, const ComputeProbe& probe, Profile& out);

// A whole step at `rows` (zero_grad, forward, loss, backward, optimizer) less the sum of the
// profiled parts (blocks, loss, optimizer: profile them first) into step_overhead_s. Parameters
// and running statistics are put back.
void profile_step_overhead(const Config& cfg, const ComputeProbe& probe, int64_t rows,
                           Profile& out);

// The machine's speed now: the fastest of three chained forward + backward passes at `rows` (after
// one warm-up). `plan --check` takes it around every run, against the one taken with the profile,
// to tell drift on a shared machine from the model's error.
double reference_seconds(const ComputeProbe& probe, int64_t rows);

}  // namespace parallax
