// GradReducer: buckets launch strictly in order so every rank issues the same collectives.
#include "parallel/grad_reducer.h"

#include <torch/torch.h>

namespace parallax {

ReducerOptions reducer_options(const Config& cfg) {
  ReducerOptions options;
  options.bucket_mb = cfg.bucket_mb;
  options.tail_bucket_mb = cfg.tail_bucket_mb;
  options.overlap = cfg.overlap;
  return options;
}

GradReducer::GradReducer(std::vector<torch::Tensor> params, compat::Group group, int world,
                         const ReducerOptions& options)
    : params_(std::move(params)),
      views_(params_.size()),
      got_(params_.size(), 0),
      group_(std::move(group)),
      world_(world),
      options_(options),
      // CUDA events only where the collectives run on device streams (NCCL): Gloo's complete on
      // its host threads, so all of a step's marks are host times then (one clock, one origin).
      clock_(params_.empty() || !runs_on_device_streams(group_) ? torch::Device(torch::kCPU)
                                                                : params_.front().device()),
      device_streams_(runs_on_device_streams(group_)) {
  std::vector<int64_t> numels;
  for (const auto& p : params_) numels.push_back(p.numel());
  const int64_t element = params_.empty() ? 4 : params_.front().element_size();
  const double mib = 1024.0 * 1024.0;
  layout_ = plan_buckets(numels, element, options.first_bucket_mb * mib, options.bucket_mb * mib,
                         options.shard ? world : 1, options.tail_bucket_mb * mib);
  buckets_.resize(layout_.buckets.size());
  timings_.resize(layout_.buckets.size());
  const auto opts = params_.empty() ? torch::TensorOptions() : params_.front().options();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const BucketPlan& plan = layout_.buckets[b];
    timings_[b].bytes = plan.numel * element;
    // Stage 2 allocates the whole bucket only while its gradients are being reduced.
    if (!options.release_buckets) allocate(b);
    if (!options.shard) continue;
    // Kept buckets are reduce-scattered in place: the chunk is a view of the bucket.
    const int64_t chunk = plan.padded / world_;
    buckets_[b].shard = options.release_buckets
                            ? torch::zeros({chunk}, opts)
                            : buckets_[b].flat.narrow(0, options.rank * chunk, chunk);
  }
  for (size_t k = 0; k < params_.size(); ++k)
    params_[k].register_hook([this, k](const torch::Tensor& grad) { on_grad(k, grad); });
}

void GradReducer::allocate(size_t b) {
  const BucketPlan& plan = layout_.buckets[b];
  Bucket& bucket = buckets_[b];
  bucket.flat = torch::empty({plan.padded}, params_[plan.params.front()].options());
  // Padding and the slices of parameters without a gradient this step must read as zeros.
  bucket.flat.zero_();
  for (size_t i = 0; i < plan.params.size(); ++i) {
    const size_t k = plan.params[i];
    views_[k] = bucket.flat.narrow(0, plan.offsets[i], params_[k].numel()).view(params_[k].sizes());
  }
}

void GradReducer::prepare(bool sync) {
  sync_ = sync;
  if (sync) clock_.begin();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].pending = layout_.buckets[b].params.size();
    buckets_[b].work.reset();
  }
  std::fill(got_.begin(), got_.end(), 0);
  next_launch_ = 0;
}

void GradReducer::on_grad(size_t k, const torch::Tensor& grad) {
  if (!sync_) return;  // accumulation micro-step: autograd sums into .grad, nothing to send
  const size_t b = layout_.bucket_of[k];
  if (!buckets_[b].flat.defined()) allocate(b);
  // The hook sees the gradient before autograd accumulates it into .grad: copy it, never
  // reduce it in place. A .grad still defined here holds earlier micro-steps (accumulation).
  views_[k].copy_(grad);
  if (params_[k].grad().defined()) views_[k].add_(params_[k].grad());
  got_[k] = 1;
  if (--buckets_[b].pending == 0 && options_.overlap) launch_ready();
}

void GradReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0)
    launch(buckets_[next_launch_++]);
}

void GradReducer::launch(Bucket& b) {
  b.launched = clock_.mark();  // its gradients are in the bucket: the collective may start
  if (options_.shard) {
    b.scatter = reduce_scatter_sum(group_, b.flat, b.shard, world_);
    b.work = b.scatter.work;
  } else {
    std::vector<torch::Tensor> tensors{b.flat};
    b.work = group_->allreduce(tensors);  // sum; divided by the world size in finalize()
  }
  b.done = clock_.mark_done(b.work, device_streams_);
}

void GradReducer::finalize() {
  backward_end_ = clock_.mark();
  // Parameters that got no gradient this step contribute zeros.
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    if (bucket.pending == 0) continue;
    if (!bucket.flat.defined()) allocate(b);
    for (size_t k : layout_.buckets[b].params)
      if (!got_[k]) views_[k].zero_();
    bucket.pending = 0;
  }
  launch_ready();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    // CPU and Gloo: the host waits. NCCL: the compute stream waits, the host goes on.
    bucket.work->wait();
    // Each rank's loss is the mean over its equal share of the batch, so the mean of the ranks'
    // gradients is the gradient of the mean loss over the global batch.
    if (options_.shard) {
      bucket.scatter.finish();
      bucket.scatter = {};
      bucket.shard.div_(world_);
      if (options_.release_buckets) bucket.flat.reset();
    } else {
      bucket.flat.div_(world_);
    }
  }
  for (size_t k = 0; k < params_.size(); ++k) {
    if (options_.shard) {
      // Only this rank's chunk of each bucket is averaged: no whole .grad to show.
      params_[k].mutable_grad().reset();
      if (options_.release_buckets) views_[k].reset();
    } else {
      params_[k].mutable_grad() = views_[k];
    }
  }
}

ReduceStats GradReducer::timing() {
  ReduceStats stats;
  if (backward_end_ < 0) return stats;
  clock_.resolve();
  const double start = clock_.at(backward_end_);
  backward_end_ = -1;
  // Buckets complete in launch order: bucket b is waited for from the end of backward or of
  // bucket b-1, whichever is later. Their in-flight intervals are merged for the busy time.
  double waited_to = start, covered_to = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const double launched = clock_.at(buckets_[b].launched), done = clock_.at(buckets_[b].done);
    timings_[b].wait_s += std::max(0.0, done - waited_to);
    waited_to = std::max(waited_to, done);
    timings_[b].flight_s += done - launched;
    ++timings_[b].steps;
    const double from = std::max(launched, covered_to);
    if (done > from) stats.busy_s += done - from;
    covered_to = std::max(covered_to, done);
  }
  stats.wait_s = waited_to - start;
  return stats;
}

torch::Tensor GradReducer::squared_norm_share() const {
  torch::NoGradGuard no_grad;
  const auto opts = torch::TensorOptions().dtype(torch::kDouble).device(
      params_.empty() ? torch::Device(torch::kCPU) : params_.front().device());
  auto sum = torch::zeros({}, opts);
  for (const auto& b : buckets_) {
    const auto& t = options_.shard ? b.shard : b.flat;  // a slice each, or the whole on each rank
    if (t.defined()) sum += t.norm().to(torch::kDouble).square();  // one pass, no copy
  }
  return options_.shard ? sum : sum / world_;
}

int64_t GradReducer::held_grad_bytes() const {
  int64_t bytes = 0;
  for (const auto& b : buckets_) {
    const auto& kept = options_.release_buckets ? b.shard : b.flat;
    if (kept.defined()) bytes += kept.numel() * kept.element_size();
  }
  return bytes;
}

}  // namespace parallax
