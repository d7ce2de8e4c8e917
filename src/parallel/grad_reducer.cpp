// GradReducer: buckets launch strictly in order so every rank issues the same collectives.
#include "parallel/grad_reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "config/user_error.h"
#include "metrics/step_trace.h"
#include "parallel/strategy.h"

namespace parallax {

ReducerOptions reducer_options(const Config& cfg) {
  ReducerOptions options;
  options.bucket_mb = cfg.bucket_mb;
  options.tail_bucket_mb = cfg.tail_bucket_mb;
  options.overlap = cfg.overlap;
  options.buckets_in_flight = cfg.buckets_in_flight;
  options.wire_bf16 = cfg.grad_reduce_dtype == "bf16";
  return options;
}

torch::Tensor bucket_view(const torch::Tensor& flat, int64_t offset, const torch::Tensor& param) {
  auto slice = flat.narrow(0, offset, param.numel());
  // A dense, non-overlapping layout (contiguous or channels-last) covers numel() slots exactly.
  return param.is_contiguous() ? slice.view(param.sizes())
                               : slice.as_strided(param.sizes(), param.strides());
}

namespace {

// Runs after autograd has accumulated a leaf's gradient into its .grad (a post-hook on the leaf's
// gradient accumulator, as PyTorch's DDP reducer does; LibTorch 1.13 has no
// register_post_accumulate_grad_hook).
class AfterAccumulate : public torch::autograd::FunctionPostHook {
 public:
  explicit AfterAccumulate(std::function<void()> f) : f_(std::move(f)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    f_();
    return outputs;
  }

 private:
  std::function<void()> f_;
};

}  // namespace

GradReducer::GradReducer(std::vector<torch::Tensor> params, compat::Group group, int world,
                         const ReducerOptions& options)
    : params_(std::move(params)),
      views_(params_.size()),
      got_(params_.size(), 0),
      group_(std::move(group)),
      world_(world),
      options_(options),
      device_(params_.empty() ? torch::Device(torch::kCPU) : params_.front().device()),
      // CUDA events only where the collectives run on device streams (NCCL): Gloo's complete on
      // its host threads, so all of a step's marks are host times then (one clock, one origin).
      clock_(params_.empty() || !runs_on_device_streams(group_) ? torch::Device(torch::kCPU)
                                                                : params_.front().device()),
      device_streams_(runs_on_device_streams(group_)) {
  if (options.wire_bf16 && !device_streams_ && !compat::kGlooReducesBf16)
    throw UserError(std::string("--grad-reduce-dtype bf16: Gloo in LibTorch ") +
                    compat::torch_version() +
                    " reduces no bf16 tensors; use the LibTorch 2.x build (scripts/build.sh "
                    "--torch2), NCCL on GPUs, or --grad-reduce-dtype fp32");
  std::vector<int64_t> numels;
  for (const auto& p : params_) numels.push_back(p.numel());
  const int64_t element = params_.empty() ? 4 : params_.front().element_size();
  const double mib = 1024.0 * 1024.0;
  layout_ =
      options.group_of.empty()
          ? plan_buckets(numels, element, options.first_bucket_mb * mib, options.bucket_mb * mib,
                         options.shard ? world : 1, options.tail_bucket_mb * mib)
          : plan_buckets_by_group(numels, options.group_of, options.shard ? world : 1);
  buckets_.resize(layout_.buckets.size());
  arrived_.assign(buckets_.size(), 0);
  timings_.resize(layout_.buckets.size());
  // The bytes each bucket puts on the wire: 2 per element in bf16.
  const int64_t wire_element = options.wire_bf16 ? 2 : element;
  for (size_t b = 0; b < buckets_.size(); ++b)
    timings_[b].bytes = layout_.buckets[b].numel * wire_element;
  // Buckets are allocated when their first gradient arrives (so the memory they take is counted
  // as gradients, not as the model), and at stage 2 freed again once reduced.
  accumulators_.resize(params_.size());
  hook_parameters();
}

void GradReducer::hook_parameters() {
  for (size_t k = 0; k < params_.size(); ++k) {
    // A frozen parameter gets no gradient: its slice stays zero, finalize() launches its bucket.
    if (!params_[k].requires_grad()) continue;
    auto accumulator = torch::autograd::impl::grad_accumulator(params_[k]);
    using Pointer = decltype(accumulator);
    if (accumulators_[k] && *std::static_pointer_cast<Pointer>(accumulators_[k]) == accumulator)
      continue;  // hooked already
    // before_grad() is idempotent: a second tensor hook, where the first survived, changes nothing.
    params_[k].register_hook([this, k](const torch::Tensor&) { before_grad(k); });
    accumulator->add_post_hook(std::make_unique<AfterAccumulate>([this, k] { on_grad(k); }));
    accumulators_[k] = std::make_shared<Pointer>(std::move(accumulator));
  }
}

void GradReducer::allocate(size_t b) {
  const BucketPlan& plan = layout_.buckets[b];
  Bucket& bucket = buckets_[b];
  // Zeros: the padding, and the parameters without a gradient this step, must read as zeros.
  bucket.flat = torch::zeros({plan.padded}, params_[plan.params.front()].options());
  bucket.allocated_bytes = storage_bytes({bucket.flat});
  ++alive_;
  live_bucket_bytes_ += bucket.allocated_bytes;
  peak_bucket_bytes_ = std::max(peak_bucket_bytes_, live_bucket_bytes_);
  for (size_t i = 0; i < plan.params.size(); ++i) {
    const size_t k = plan.params[i];
    views_[k] = bucket_view(bucket.flat, plan.offsets[i], params_[k]);
    params_[k].mutable_grad() = views_[k];  // autograd accumulates into the bucket in place
  }
  if (!options_.shard) return;
  const int64_t chunk = plan.padded / world_;
  if (!options_.release_buckets) {
    // Kept buckets are reduce-scattered in place: the chunk is a view of the bucket.
    bucket.shard = bucket.flat.narrow(0, options_.rank * chunk, chunk);
  } else if (!bucket.shard.defined()) {
    bucket.shard = torch::zeros({chunk}, bucket.flat.options());
    shard_bytes_ += storage_bytes({bucket.shard});
  }
}

void GradReducer::release(size_t b) {
  Bucket& bucket = buckets_[b];
  for (size_t k : layout_.buckets[b].params) {
    params_[k].mutable_grad().reset();
    views_[k].reset();
  }
  bucket.flat.reset();
  bucket.wire.reset();
  bucket.wire_shard.reset();
  --alive_;
  live_bucket_bytes_ -= bucket.allocated_bytes + bucket.wire_bytes;
  bucket.allocated_bytes = 0;
  bucket.wire_bytes = 0;
}

void GradReducer::zero_grad() {
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    if (!buckets_[b].flat.defined()) continue;
    buckets_[b].flat.zero_();
    // Whoever reset a .grad since (an optimizer's zero_grad) gets the bucket's view back.
    for (size_t k : layout_.buckets[b].params)
      if (!params_[k].grad().is_same(views_[k])) params_[k].mutable_grad() = views_[k];
  }
}

void GradReducer::prepare_accumulation(int micro_batches) {
  prepare(true);
  accumulations_ = std::max(1, micro_batches);
  arrivals_.assign(params_.size(), 0);
}

void GradReducer::prepare(bool sync) {
  sync_ = sync;
  accumulations_ = 1;
  if (sync) clock_.begin();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].pending = layout_.buckets[b].params.size();
    buckets_[b].work.reset();
  }
  std::fill(got_.begin(), got_.end(), 0);
  arrived_.assign(buckets_.size(), 0);
  next_launch_ = 0;
  next_finish_ = 0;
}

void GradReducer::before_grad(size_t k) {
  // Stage 2: the bucket comes into being with its first gradient (accumulation micro-steps
  // included, which sum into it); a kept bucket exists from the first step on.
  const size_t b = layout_.bucket_of[k];
  if (buckets_[b].flat.defined()) return;
  // Stage 2 keeps at most buckets_in_flight whole buckets: the oldest reduce-scatter is waited
  // for first (a bucket not yet launched cannot be: then one more is allowed).
  if (options_.release_buckets)
    while (alive_ >= options_.buckets_in_flight && next_finish_ < next_launch_)
      finish(next_finish_++);
  allocate(b);
}

void GradReducer::on_grad(size_t k) {
  // A pipeline step: this backward only accumulated, unless it is the parameter's last.
  if (accumulations_ > 1 && ++arrivals_[k] < accumulations_) return;
  if (got_[k]) return;
  got_[k] = 1;
  const size_t b = layout_.bucket_of[k];
  // Every micro-step: the bucket's parameters are done with for this backward.
  if (on_filled_ && ++arrived_[b] == layout_.buckets[b].params.size()) on_filled_(b);
  if (!sync_) return;  // accumulation micro-step: autograd summed into the bucket
  if (--buckets_[b].pending == 0 && options_.overlap) launch_ready();
  if (options_.release_buckets) finish_completed();
  if (probe_) probe_->sample();
}

void GradReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0)
    launch(buckets_[next_launch_++]);
}

void GradReducer::launch(Bucket& b) {
  b.launched = clock_.mark();  // its gradients are in the bucket: the collective may start
  if (options_.wire_bf16) {
    // Kept buckets keep their bf16 copy from step to step; released ones free it with them.
    if (!b.wire.defined()) {
      b.wire = torch::empty({b.flat.numel()}, b.flat.options().dtype(torch::kBFloat16));
      b.wire_bytes = storage_bytes({b.wire});
      live_bucket_bytes_ += b.wire_bytes;
      peak_bucket_bytes_ = std::max(peak_bucket_bytes_, live_bucket_bytes_);
      if (options_.shard) {
        const int64_t chunk = b.flat.numel() / world_;
        b.wire_shard = b.wire.narrow(0, options_.rank * chunk, chunk);
      }
    }
    b.wire.copy_(b.flat);
  }
  const torch::Tensor& send = options_.wire_bf16 ? b.wire : b.flat;
  if (options_.shard) {
    b.scatter =
        reduce_scatter_sum(group_, send, options_.wire_bf16 ? b.wire_shard : b.shard, world_);
    b.work = b.scatter.work;
  } else {
    std::vector<torch::Tensor> tensors{send};
    // A sum; finalize() divides it by the world size.
    b.work = all_reduce_sum(group_, tensors, "gradient bucket");
  }
  b.done = clock_.mark_done(b.work, device_streams_);
}

void GradReducer::finish(size_t b) {
  Bucket& bucket = buckets_[b];
  // CPU and Gloo: the host waits. NCCL: the compute stream waits, the host goes on.
  bucket.work->wait();
  // The work holds the bucket's tensors: dropped now, it frees a released bucket at once.
  bucket.work.reset();
  // Each rank's loss is the mean over its equal share of the batch, so the mean of the ranks'
  // gradients is the gradient of the mean loss over the global batch.
  // fp16: the loss scale goes with the ranks, in one pass over the bucket.
  const double divisor = world_ * grad_scale_;
  if (options_.shard) {
    bucket.scatter.finish();
    bucket.scatter = {};
    if (options_.wire_bf16) bucket.shard.copy_(bucket.wire_shard);
    bucket.shard.div_(divisor);
    if (options_.release_buckets) release(b);
  } else {
    if (options_.wire_bf16) bucket.flat.copy_(bucket.wire);
    bucket.flat.div_(divisor);
  }
}

void GradReducer::finish_completed() {
  // In launch order, so that every rank frees the same buckets' memory for the same reasons;
  // isCompleted() does not wait.
  while (next_finish_ < next_launch_ && buckets_[next_finish_].work &&
         buckets_[next_finish_].work->isCompleted())
    finish(next_finish_++);
}

void GradReducer::finalize() {
  torch::NoGradGuard no_grad;
  backward_end_ = clock_.mark();
  // Parameters that got no gradient this step contribute zeros (their views are zeroed at the
  // step's start, or were allocated as zeros).
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    if (bucket.pending == 0) continue;
    if (!bucket.flat.defined()) allocate(b);
    bucket.pending = 0;
  }
  launch_ready();
  while (next_finish_ < buckets_.size()) finish(next_finish_++);
}

ReduceStats GradReducer::timing(bool count) {
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
    if (count) {
      timings_[b].wait_s += std::max(0.0, done - waited_to);
      timings_[b].flight_s += done - launched;
      ++timings_[b].steps;
    }
    waited_to = std::max(waited_to, done);
    const double from = std::max(launched, covered_to);
    if (done > from) stats.busy_s += done - from;
    covered_to = std::max(covered_to, done);
  }
  stats.wait_s = waited_to - start;
  if (trace_) lay_on_trace(start, waited_to);
  return stats;
}

void GradReducer::lay_on_trace(double backward_end, double waited_to) {
  Timeline& timeline = trace_->timeline();
  if (timeline.full()) return;
  const double base = trace_->base_us(clock_);
  const char* op = options_.shard ? "reduce-scatter" : "all-reduce";
  char name[96];
  for (size_t b = 0; b < buckets_.size(); ++b) {
    std::snprintf(name, sizeof name, "%s bucket %zu (%.2f MiB)", op, b,
                  static_cast<double>(timings_[b].bytes) / (1 << 20));
    timeline.collective(name, base + clock_.at(buckets_[b].launched) * 1e6,
                        base + clock_.at(buckets_[b].done) * 1e6);
  }
  if (waited_to > backward_end)
    timeline.span("compute", "finalize: wait for gradients", base + backward_end * 1e6,
                  base + waited_to * 1e6);
}

torch::Tensor GradReducer::squared_norm_share() const {
  torch::NoGradGuard no_grad;
  const auto opts =
      torch::TensorOptions()
          .dtype(torch::kDouble)
          .device(params_.empty() ? torch::Device(torch::kCPU) : params_.front().device());
  auto sum = torch::zeros({}, opts);
  for (const auto& b : buckets_) {
    const auto& t = options_.shard ? b.shard : b.flat;  // a slice each, or the whole on each rank
    if (t.defined()) sum += t.norm().to(torch::kDouble).square();  // one pass, no copy
  }
  return options_.shard ? sum : sum / world_;
}

void GradReducer::scale_gradients(const torch::Tensor& factor) {
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    auto& t = options_.shard ? b.shard : b.flat;
    if (t.defined()) t.mul_(factor);
  }
}

int64_t GradReducer::held_grad_bytes() const {
  int64_t bytes = 0;
  for (const auto& b : buckets_) {
    const auto& kept = options_.release_buckets ? b.shard : b.flat;
    if (kept.defined()) bytes += kept.numel() * kept.element_size();
    if (!options_.release_buckets && b.wire.defined())
      bytes += b.wire.numel() * b.wire.element_size();  // the bf16 copy
  }
  return bytes;
}

}  // namespace parallax
