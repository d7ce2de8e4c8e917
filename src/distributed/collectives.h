// Every byte a strategy moves between ranks goes through here: the one place that knows the
// backend's rules (which device a tensor must be on, whether the host waits) and how results come
// back to the host. Each call names its purpose; the checking group (checked_group.h) refuses a
// collective that did not come through this layer, so no strategy can carry its own copy of the
// rules (a CPU tensor handed to NCCL is the bug this prevents).
#pragma once
#include <torch/types.h>

#include <memory>
#include <vector>

#include "distributed/torch_compat.h"

namespace parallax {

// ---- The backend's rules ----

// NCCL queues its work on CUDA streams (the host goes on at once); Gloo runs on host threads.
bool runs_on_device_streams(const compat::Group& group);

// Where `group` needs a tensor for a reduce, send or recv: NCCL the rank's GPU; Gloo the CPU
// (it reads those as host memory).
torch::Device host_side_device(const compat::Group& group, const torch::Device& rank_device);
// Where it needs one for an all-reduce, broadcast or all-gather: the rank's device for every
// backend (NCCL needs the GPU; Gloo's CUDA paths stage through pinned memory themselves).
inline torch::Device collective_device(const torch::Device& rank_device) {
  return rank_device;
}

// The purpose of the collective this thread is issuing through this layer; nullptr outside.
const char* issuing_purpose();

// ---- Collectives, each named by its purpose ----

compat::Work all_reduce_sum(const compat::Group& group, std::vector<torch::Tensor>& tensors,
                            const char* purpose);
compat::Work all_reduce_max(const compat::Group& group, std::vector<torch::Tensor>& tensors,
                            const char* purpose);
compat::Work broadcast(const compat::Group& group, std::vector<torch::Tensor>& tensors, int root,
                       const char* purpose);
compat::Work send(const compat::Group& group, std::vector<torch::Tensor>& tensors, int peer,
                  int tag, const char* purpose);
compat::Work recv(const compat::Group& group, std::vector<torch::Tensor>& tensors, int peer,
                  int tag, const char* purpose);
void barrier(const compat::Group& group, const char* purpose);

// A small sum over the group's ranks that the host reads (evaluation totals; a step's loss,
// accuracy, stop flag and gradient norm, on which fp16's skip decision rests; a profile's costs):
// launched at construction on the rank's device, as the backend needs; host() waits once and
// returns the sums on the CPU. A null group (one rank) sums nothing.
class HostSum {
 public:
  HostSum() = default;
  HostSum(const compat::Group& group, const torch::Tensor& values, const torch::Device& rank_device,
          const char* purpose);
  torch::Tensor host();
  // The sums where they were reduced (the rank's device), for device work that needs them before
  // the host does (--grad-clip's factor): on NCCL the stream waits for them, the host does not.
  torch::Tensor reduced();

 private:
  compat::Work work_;
  torch::Tensor wire_;
  torch::Tensor host_;
};

// While alive, this thread queues its device work, and so the collectives it issues, on a stream
// of its own (CUDA; nothing on the CPU). NCCL makes a collective wait for the work queued before
// it on the issuing stream: issued beside the compute's stream, it waits for the link alone.
class OffComputeStream {
 public:
  explicit OffComputeStream(const torch::Device& device);
  ~OffComputeStream();
  OffComputeStream(const OffComputeStream&) = delete;
  OffComputeStream& operator=(const OffComputeStream&) = delete;

 private:
  struct Guard;
  std::unique_ptr<Guard> guard_;
};

// ---- Flat collectives (flat_collectives.cpp): what not every backend offers natively ----

// A reduce-scatter in flight: sums `flat` (world x chunk elements) over ranks and leaves this
// rank's chunk of the sum in `out`. finish() must run after work->wait(). On Gloo the other
// ranks' chunks of `flat` are overwritten (used as the reduction's scratch); a CUDA `flat` goes
// through the host there (Gloo reduces host memory only).
struct PendingReduceScatter {
  compat::Work work;
  torch::Tensor mine;  // Gloo: this rank's chunk of the reduced buffer, where the sum arrives
  torch::Tensor out;
  void finish();
};
PendingReduceScatter reduce_scatter_sum(const compat::Group& group, const torch::Tensor& flat,
                                        const torch::Tensor& out, int world,
                                        const char* purpose = "gradient reduce-scatter");

// All-gather in place: rank r's chunk of `flat` (world x chunk elements) goes to every rank.
compat::Work all_gather_in_place(const compat::Group& group, const torch::Tensor& flat, int rank,
                                 int world, const char* purpose = "parameter all-gather");

// Every rank's `row` (same shape on all), in rank order; {row} when world is 1. The row travels
// on `device` (NCCL moves device tensors only) and comes back on the CPU.
std::vector<torch::Tensor> all_gather_rows(const compat::Group& group, int world,
                                           const torch::Tensor& row, const torch::Device& device);

// Broadcasts `tensors` from `root` (rank in `group`) with one flat message per dtype, and copies
// the result back into them on every other rank. Waits.
void broadcast_coalesced(const compat::Group& group, const std::vector<torch::Tensor>& tensors,
                         int root, const char* purpose);

}  // namespace parallax
