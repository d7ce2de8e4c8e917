// GradReducer: buckets launch strictly in order so every rank issues the same collectives.
#include "parallel/grad_reducer.h"

#include <torch/torch.h>

#include <chrono>

namespace parallax {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

GradReducer::GradReducer(std::vector<torch::Tensor> params, compat::Group group, int world,
                         const ReducerOptions& options)
    : params_(std::move(params)),
      bucket_of_(params_.size()),
      got_(params_.size(), 0),
      group_(std::move(group)),
      world_(world),
      options_(options) {
  // Reverse model order: the last layers' gradients are ready first in backward.
  std::vector<std::vector<size_t>> groups(1);
  double cap = options.first_bucket_mb * 1024 * 1024, filled = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const double bytes = static_cast<double>(params_[k].numel() * params_[k].element_size());
    if (!groups.back().empty() && filled + bytes > cap) {
      groups.emplace_back();
      filled = 0;
      cap = options.bucket_mb * 1024 * 1024;
    }
    groups.back().push_back(k);
    filled += bytes;
  }
  views_.resize(params_.size());
  for (auto& members : groups) {
    Bucket b;
    int64_t numel = 0;
    for (size_t k : members) numel += params_[k].numel();
    b.flat = torch::zeros({numel}, params_[members.front()].options());
    int64_t offset = 0;
    for (size_t k : members) {
      views_[k] = b.flat.narrow(0, offset, params_[k].numel()).view(params_[k].sizes());
      offset += params_[k].numel();
      bucket_of_[k] = buckets_.size();
    }
    b.params = std::move(members);
    bucket_bytes_.push_back(numel * b.flat.element_size());
    buckets_.push_back(std::move(b));
  }
  for (size_t k = 0; k < params_.size(); ++k)
    params_[k].register_hook([this, k](const torch::Tensor& grad) { on_grad(k, grad); });
}

void GradReducer::prepare(bool sync) {
  sync_ = sync;
  for (auto& b : buckets_) {
    b.pending = b.params.size();
    b.launched = false;
    b.work.reset();
  }
  std::fill(got_.begin(), got_.end(), 0);
  next_launch_ = 0;
}

void GradReducer::on_grad(size_t k, const torch::Tensor& grad) {
  if (!sync_) return;  // accumulation micro-step: autograd sums into .grad, nothing to send
  // The hook sees the gradient before autograd accumulates it into .grad: copy it, never
  // reduce it in place. A .grad still defined here holds earlier micro-steps (accumulation).
  views_[k].copy_(grad);
  if (params_[k].grad().defined()) views_[k].add_(params_[k].grad());
  got_[k] = 1;
  Bucket& b = buckets_[bucket_of_[k]];
  if (--b.pending == 0 && options_.overlap) launch_ready();
}

void GradReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0)
    launch(buckets_[next_launch_++]);
}

void GradReducer::launch(Bucket& b) {
  std::vector<torch::Tensor> tensors{b.flat};
  b.launched_at = now_s();
  b.done_at = 0;
  b.work = group_->allreduce(tensors);  // sum; divided by the world size in finalize()
  b.launched = true;
  // Completion time, from the communication thread: how long the all-reduce really took.
  std::atomic<double>* done = &b.done_at;
  b.work->getFuture()->addCallback([done](c10::ivalue::Future&) { *done = now_s(); });
}

ReduceStats GradReducer::finalize() {
  ReduceStats stats;
  const double start = now_s();
  // Parameters that got no gradient this step contribute zeros (their slices were not written).
  for (auto& b : buckets_) {
    if (b.pending == 0) continue;
    for (size_t k : b.params)
      if (!got_[k]) views_[k].zero_();
    b.pending = 0;
  }
  launch_ready();
  for (auto& b : buckets_) {
    b.work->wait();
    // Each rank's loss is the mean over its equal share of the batch, so the mean of the ranks'
    // gradients is the gradient of the mean loss over the global batch.
    b.flat.div_(world_);
    ++stats.buckets;
  }
  const double end = now_s();
  stats.wait_s = end - start;
  // Buckets run one after another on the communication thread: merge their in-flight intervals.
  double covered_to = 0;
  for (const auto& b : buckets_) {
    const double done = b.done_at > 0 ? b.done_at.load() : end;
    const double from = std::max(b.launched_at, covered_to);
    if (done > from) stats.busy_s += done - from;
    covered_to = std::max(covered_to, done);
  }
  for (size_t k = 0; k < params_.size(); ++k) params_[k].mutable_grad() = views_[k];
  return stats;
}

}  // namespace parallax
