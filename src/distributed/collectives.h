// Collectives over flat buffers that not every backend offers natively (Gloo has no
// reduce-scatter and no flat all-gather): one call, the best the backend can do.
#pragma once
#include <torch/types.h>

#include "distributed/torch_compat.h"

namespace parallax {

// A reduce-scatter in flight: sums `flat` (world x chunk elements) over ranks and leaves this
// rank's chunk of the sum in `out`. finish() must run after work->wait(). On Gloo the other
// ranks' chunks of `flat` are overwritten (used as the reduction's scratch).
struct PendingReduceScatter {
  compat::Work work;
  torch::Tensor mine;  // Gloo: this rank's chunk of flat, where the sum arrives
  torch::Tensor out;
  void finish();
};
PendingReduceScatter reduce_scatter_sum(const compat::Group& group, const torch::Tensor& flat,
                                        const torch::Tensor& out, int world);

// All-gather in place: rank r's chunk of `flat` (world x chunk elements) goes to every rank.
compat::Work all_gather_in_place(const compat::Group& group, const torch::Tensor& flat, int rank,
                                 int world);

// Every rank's `row` (same shape on all), in rank order; {row} when world is 1. The row travels
// on `device` (NCCL moves device tensors only) and comes back on the CPU.
std::vector<torch::Tensor> all_gather_rows(const compat::Group& group, int world,
                                           const torch::Tensor& row, const torch::Device& device);

// Broadcasts `tensors` from `root` (rank in `group`) with one flat message per dtype, and copies
// the result back into them on every other rank. Waits.
void broadcast_coalesced(const compat::Group& group, const std::vector<torch::Tensor>& tensors,
                         int root);

}  // namespace parallax
