// NCCL has flat reduce-scatter and all-gather; Gloo gets them from all-to-all and list all-gather.
#include "distributed/collectives.h"

#include <torch/torch.h>

#include <map>

namespace parallax {
namespace {

bool is_nccl(const compat::Group& group) {
  return group->getBackendName() == "nccl";
}

}  // namespace

void PendingReduceScatter::finish() {
  if (recv.defined()) at::sum_out(out, recv.view({-1, out.numel()}), 0);
}

PendingReduceScatter reduce_scatter_sum(const compat::Group& group, const torch::Tensor& flat,
                                        const torch::Tensor& out, int world) {
  PendingReduceScatter p;
  p.out = out;
  if (is_nccl(group)) {
    auto dst = out;
    auto src = flat;
    p.work = group->_reduce_scatter_base(dst, src);
    return p;
  }
  // Rank j receives every rank's chunk j; the sum is taken locally in finish(). The same bytes
  // cross the wire as in a ring reduce-scatter: (world - 1) / world of the buffer per rank.
  p.recv = torch::empty({world * out.numel()}, flat.options());
  auto dst = p.recv;
  auto src = flat;
  std::vector<int64_t> equal_splits;  // empty: equal chunks
  p.work = group->alltoall_base(dst, src, equal_splits, equal_splits);
  return p;
}

compat::Work all_gather_in_place(const compat::Group& group, const torch::Tensor& flat, int rank,
                                 int world) {
  const int64_t chunk = flat.numel() / world;
  auto mine = flat.narrow(0, rank * chunk, chunk);
  if (is_nccl(group)) {
    auto dst = flat;
    return group->_allgather_base(dst, mine);
  }
  std::vector<torch::Tensor> inputs{mine};
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int r = 0; r < world; ++r) outputs[0].push_back(flat.narrow(0, r * chunk, chunk));
  return group->allgather(outputs, inputs);
}

std::vector<torch::Tensor> all_gather_rows(const compat::Group& group, int world,
                                           const torch::Tensor& row, const torch::Device& device) {
  if (world == 1) return {row.cpu()};
  std::vector<torch::Tensor> in{row.to(device)};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < world; ++r) out[0].push_back(torch::empty_like(in[0]));
  group->allgather(out, in)->wait();
  std::vector<torch::Tensor> rows;
  for (const auto& t : out[0]) rows.push_back(t.cpu());
  return rows;
}

void broadcast_coalesced(const compat::Group& group, const std::vector<torch::Tensor>& tensors,
                         int root) {
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (const auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  for (auto& [type, same] : by_type) {
    std::vector<torch::Tensor> parts;
    for (const auto& t : same) parts.push_back(t.detach().reshape(-1));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    group->broadcast(flat, opts)->wait();
    if (group->getRank() == root) continue;
    torch::NoGradGuard no_grad;
    int64_t offset = 0;
    for (auto& t : same) {
      t.copy_(flat[0].narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

}  // namespace parallax
