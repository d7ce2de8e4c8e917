// The backend's rules and the labelled collectives: every call marks its purpose for the
// duration of the issue, so a checking group can tell a call that came through here.
#include "distributed/collectives.h"

#include <torch/torch.h>

#include "distributed/issuing.h"
#include "distributed/recorded_issue.h"

#if PARALLAX_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace parallax {
namespace {
thread_local const char* t_purpose = nullptr;
}  // namespace

Issuing::Issuing(const char* purpose) : outer_(t_purpose) {
  t_purpose = purpose;
}
Issuing::~Issuing() {
  t_purpose = outer_;
}

const char* issuing_purpose() {
  return t_purpose;
}

bool runs_on_device_streams(const compat::Group& group) {
  return group && group->getBackendName() == "nccl";
}

torch::Device host_side_device(const compat::Group& group, const torch::Device& rank_device) {
  return runs_on_device_streams(group) ? rank_device : torch::Device(torch::kCPU);
}

compat::Work all_reduce_sum(const compat::Group& group, std::vector<torch::Tensor>& tensors,
                            const char* purpose) {
  return issue_recorded(flight_call(group, FlightOp::kAllReduceSum, purpose, tensors), group,
                        [&] { return group->allreduce(tensors); });
}

compat::Work all_reduce_max(const compat::Group& group, std::vector<torch::Tensor>& tensors,
                            const char* purpose) {
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::MAX;
  return issue_recorded(flight_call(group, FlightOp::kAllReduceMax, purpose, tensors), group,
                        [&] { return group->allreduce(tensors, opts); });
}

compat::Work broadcast(const compat::Group& group, std::vector<torch::Tensor>& tensors, int root,
                       const char* purpose) {
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  return issue_recorded(flight_call(group, FlightOp::kBroadcast, purpose, tensors, root), group,
                        [&] { return group->broadcast(tensors, opts); });
}

compat::Work send(const compat::Group& group, std::vector<torch::Tensor>& tensors, int peer,
                  int tag, const char* purpose) {
  return issue_recorded(flight_call(group, FlightOp::kSend, purpose, tensors, peer), group,
                        [&] { return group->send(tensors, peer, tag); });
}

compat::Work recv(const compat::Group& group, std::vector<torch::Tensor>& tensors, int peer,
                  int tag, const char* purpose) {
  return issue_recorded(flight_call(group, FlightOp::kRecv, purpose, tensors, peer), group,
                        [&] { return group->recv(tensors, peer, tag); });
}

void barrier(const compat::Group& group, const char* purpose) {
  issue_recorded_and_wait(flight_call(group, FlightOp::kBarrier, purpose, {}),
                          [&] { group->barrier()->wait(); });
}

#if PARALLAX_HAVE_CUDA
struct OffComputeStream::Guard {
  explicit Guard(const torch::Device& d)
      : guard(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, d.index())) {}
  c10::cuda::CUDAStreamGuard guard;
};
#else
struct OffComputeStream::Guard {};
#endif

OffComputeStream::OffComputeStream(const torch::Device& device) {
#if PARALLAX_HAVE_CUDA
  if (device.is_cuda()) guard_ = std::make_unique<Guard>(device);
#endif
}
OffComputeStream::~OffComputeStream() = default;

HostSum::HostSum(const compat::Group& group, const torch::Tensor& values,
                 const torch::Device& rank_device, const char* purpose) {
  if (!group) {
    wire_ = values;
    host_ = values.cpu();
    return;
  }
  // A no-op when the caller's buffer is already on the rank's device (a step's reused sums).
  wire_ = values.to(collective_device(rank_device));
  std::vector<torch::Tensor> t{wire_};
  work_ = all_reduce_sum(group, t, purpose);
}

torch::Tensor HostSum::reduced() {
  if (work_) {
    work_->wait();
    work_.reset();
  }
  return wire_;
}

torch::Tensor HostSum::host() {
  if (!host_.defined() && wire_.defined()) host_ = reduced().cpu();
  return host_;
}

}  // namespace parallax
