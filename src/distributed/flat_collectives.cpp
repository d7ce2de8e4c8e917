// NCCL has flat reduce-scatter and all-gather. Gloo gets them in place, with no buffer of its own:
// one reduce (to rank r, of chunk r) or one broadcast (from rank r, of chunk r) per rank, which
// move the same bytes as its all-to-all and list all-gather (those allocate a whole bucket's
// temporary per collective in flight).
#include <torch/torch.h>

#include "distributed/collectives.h"
#include "distributed/issuing.h"
#include "distributed/recorded_issue.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>

namespace parallax {
namespace {

// Several works as one: complete when all are (Gloo's per-rank parts of one collective).
class WorkGroup : public c10d::Work {
 public:
  explicit WorkGroup(std::vector<compat::Work> works)
      : works_(std::move(works)),
        future_(c10::make_intrusive<c10::ivalue::Future>(c10::NoneType::get())) {
    // Completes with the last of the parts' futures.
    auto left = std::make_shared<std::atomic<size_t>>(works_.size());
    auto done = future_;
    for (const auto& w : works_)
      w->getFuture()->addCallback([left, done](c10::ivalue::Future&) {
        if (left->fetch_sub(1) == 1) done->markCompleted(c10::IValue());
      });
  }
  bool isCompleted() override {
    return std::all_of(works_.begin(), works_.end(), [](const compat::Work& w) { return w->isCompleted(); });
  }
  bool wait(std::chrono::milliseconds timeout) override {
    for (auto& w : works_) w->wait(timeout);
    return true;
  }
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override { return future_; }

 private:
  std::vector<compat::Work> works_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
};

}  // namespace

void PendingReduceScatter::finish() {
  if (mine.defined() && !out.is_same(mine)) out.copy_(mine);
}

namespace {

PendingReduceScatter issue_reduce_scatter(const compat::Group& group, const torch::Tensor& flat,
                                          const torch::Tensor& out, int world) {
  PendingReduceScatter p;
  p.out = out;
  if (runs_on_device_streams(group)) {
    auto dst = out;
    auto src = flat;
    p.work = group->_reduce_scatter_base(dst, src);
    return p;
  }
  // Chunk r of every rank's buffer is summed into rank r's chunk r, in place; in host memory,
  // which is all Gloo's reduce reads (a blocking copy: complete before Gloo's thread reads it).
  const auto host = flat.device() == host_side_device(group, flat.device()) ? flat : flat.cpu();
  const int64_t chunk = host.numel() / world;
  std::vector<compat::Work> parts;
  for (int r = 0; r < world; ++r) {
    std::vector<torch::Tensor> t{host.narrow(0, r * chunk, chunk)};
    c10d::ReduceOptions opts;
    opts.rootRank = r;
    opts.reduceOp = c10d::ReduceOp::SUM;
    parts.push_back(group->reduce(t, opts));
  }
  p.mine = host.narrow(0, group->getRank() * chunk, chunk);
  p.work = c10::make_intrusive<WorkGroup>(std::move(parts));
  return p;
}

compat::Work issue_all_gather(const compat::Group& group, const torch::Tensor& flat, int rank,
                              int world) {
  const int64_t chunk = flat.numel() / world;
  auto mine = flat.narrow(0, rank * chunk, chunk);
  if (runs_on_device_streams(group)) {
    auto dst = flat;
    return group->_allgather_base(dst, mine);
  }
  std::vector<compat::Work> parts;
  for (int r = 0; r < world; ++r) {
    std::vector<torch::Tensor> t{flat.narrow(0, r * chunk, chunk)};
    c10d::BroadcastOptions opts;
    opts.rootRank = r;
    parts.push_back(group->broadcast(t, opts));
  }
  return c10::make_intrusive<WorkGroup>(std::move(parts));
}

}  // namespace

PendingReduceScatter reduce_scatter_sum(const compat::Group& group, const torch::Tensor& flat,
                                        const torch::Tensor& out, int world, const char* purpose) {
  PendingReduceScatter p;
  p.work = issue_recorded(
      flight_call(group, FlightOp::kReduceScatter, purpose, {flat}), group, [&] {
        p = issue_reduce_scatter(group, flat, out, world);
        return p.work;
      });
  return p;
}

compat::Work all_gather_in_place(const compat::Group& group, const torch::Tensor& flat, int rank,
                                 int world, const char* purpose) {
  return issue_recorded(flight_call(group, FlightOp::kAllGather, purpose, {flat}),
                        group, [&] { return issue_all_gather(group, flat, rank, world); });
}

std::vector<torch::Tensor> all_gather_rows(const compat::Group& group, int world,
                                           const torch::Tensor& row, const torch::Device& device) {
  if (world == 1) return {row.cpu()};
  std::vector<torch::Tensor> in{row.to(collective_device(device))};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < world; ++r) out[0].push_back(torch::empty_like(in[0]));
  issue_recorded_and_wait(flight_call(group, FlightOp::kAllGather, "per-rank rows", in),
                          [&] { group->allgather(out, in)->wait(); });
  std::vector<torch::Tensor> rows;
  for (const auto& t : out[0]) rows.push_back(t.cpu());
  return rows;
}

void broadcast_coalesced(const compat::Group& group, const std::vector<torch::Tensor>& tensors,
                         int root, const char* purpose) {
  std::map<c10::ScalarType, std::vector<torch::Tensor>> by_type;
  for (const auto& t : tensors) by_type[t.scalar_type()].push_back(t);
  for (auto& [type, same] : by_type) {
    std::vector<torch::Tensor> parts;
    for (const auto& t : same) parts.push_back(t.detach().reshape(-1));
    std::vector<torch::Tensor> flat{torch::cat(parts)};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    issue_recorded_and_wait(flight_call(group, FlightOp::kBroadcast, purpose, flat, root),
                            [&] { group->broadcast(flat, opts)->wait(); });
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
