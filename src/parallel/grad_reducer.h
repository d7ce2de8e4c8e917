// GradReducer: DDP's gradient all-reduce in flat buckets, launched as autograd fills them. Each
// parameter's .grad is a view of its bucket (PyTorch's gradient_as_bucket_view), so autograd
// accumulates straight into the bucket and no second copy of the gradients exists. For ZeRO the
// buckets are padded so each rank owns one equal slice of every bucket, and are reduce-scattered
// (each rank receives only its slice's sum); at stage 2 a bucket exists only from its first
// gradient until its reduce-scatter completes, and only this rank's slices are kept.
#pragma once
#include <torch/types.h>

#include <functional>
#include <vector>

#include "config/config.h"
#include "distributed/collectives.h"
#include "distributed/torch_compat.h"
#include "metrics/memory_probe.h"
#include "metrics/stream_clock.h"
#include "parallel/bucket_layout.h"

namespace parallax {

class StepTrace;

struct ReducerOptions {
  double first_bucket_mb = 1;  // small, so the first all-reduce starts early in backward
  double bucket_mb = 25;
  double tail_bucket_mb = 1;     // the last launched bucket; 0: no tapered tail (see plan_buckets)
  bool overlap = true;           // launch each bucket once full; false: all after backward
  bool shard = false;            // ZeRO: pad to world x chunk; reduce-scatter, rank r gets chunk r
  bool release_buckets = false;  // ZeRO-2: free whole buckets after each step, keep the chunks
  int buckets_in_flight = 2;     // release_buckets: whole buckets alive at once, at most
  std::vector<size_t> group_of;  // non-empty: one bucket per group of parameters (ZeRO-3: blocks)
  int rank = 0;
  bool wire_bf16 = false;  // buckets cast to a bf16 copy for the collective, and back after
};
// The bucket sizes, overlap and wire dtype the command line asks for (--bucket-mb,
// --tail-bucket-mb, --overlap, --grad-reduce-dtype); sharding is the caller's to set.
ReducerOptions reducer_options(const Config& cfg);

// Per step figures of the reducer, from when the work really ran (CUDA events on a GPU).
struct ReduceStats {
  double wait_s = 0;  // backward's end to the last collective's end: communication not hidden
  double busy_s = 0;  // time some collective was in flight (launch to completion, merged)
};

// Running totals per bucket, over the timed steps (timing(count)) that synchronised.
struct BucketTiming {
  int64_t bytes = 0;
  double wait_s = 0;    // time finalize() spent waiting for this bucket
  double flight_s = 0;  // launch to completion
  int64_t steps = 0;
};

// Parameter `param`'s slice of a flat bucket from `offset`, shaped and strided like `param`
// (channels-last weights get channels-last gradients, so autograd accumulates without a reorder).
torch::Tensor bucket_view(const torch::Tensor& flat, int64_t offset, const torch::Tensor& param);

class GradReducer {
 public:
  // params in model order; buckets are filled in reverse order, as backward produces them.
  GradReducer(std::vector<torch::Tensor> params, compat::Group group, int world,
              const ReducerOptions& options);
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // At a step's start, instead of resetting .grad: zeroes the kept buckets, which stay the
  // parameters' .grad.
  void zero_grad();
  // After a checkpoint load: reading the archive into the parameters gives them new gradient
  // accumulators (LibTorch's InputArchive), which have none of the hooks that fill and launch the
  // buckets; without this, every bucket of a resumed run waited for finalize() (no overlap, and
  // ZeRO-3 kept the whole model gathered). Hooks those parameters again.
  void hook_parameters();
  // Before backward: the next gradients will be reduced (sync) or left to accumulate in the
  // buckets.
  void prepare(bool sync = true);
  // Before a pipeline step, once: each parameter's gradient arrives `micro_batches` times (one
  // backward of its chunk per micro-batch) and is complete at the last, whichever chunk that
  // belongs to and in whatever order the schedule interleaves the chunks; a bucket is reduced
  // once, when all its parameters are complete.
  void prepare_accumulation(int micro_batches);
  // fp16: the gradients in the buckets are the loss scale times the real ones; averaging over
  // ranks divides by it as well, so no pass of its own unscales them.
  void set_grad_scale(double scale) { grad_scale_ = scale; }
  // After backward: waits for every bucket and averages over ranks. All-reduce: each parameter's
  // .grad becomes a view of its bucket, bitwise equal on every rank. Reduce-scatter (shard): .grad
  // is reset and shard_grad() holds this rank's averaged slices.
  void finalize();
  // This step's figures. Call after the step has synced with its device (its loss is on the
  // host): the marks are then all complete and reading them costs no wait. With a trace, each
  // bucket's collective is laid on its lane "comm" from launch to completion, and finalize()'s
  // wait for the last of them on lane "compute".
  // count: add this step to timings() (false for the timing warm-up's steps).
  ReduceStats timing(bool count = true);
  void set_trace(StepTrace* trace) { trace_ = trace; }

  const BucketLayout& layout() const { return layout_; }
  // This rank's slice (ReducerOptions::shard) of bucket b's averaged gradient (after the first
  // finalize(); with release_buckets it is allocated then).
  const torch::Tensor& shard_grad(size_t b) const { return buckets_[b].shard; }
  // Gradient bytes kept between steps (whole buckets, or only the chunks with release_buckets).
  int64_t held_grad_bytes() const;
  // The most bytes of whole buckets alive at once, as the allocator counted them around each
  // bucket's allocation (0 before the first step; kept buckets: all of them).
  int64_t peak_bucket_bytes() const { return peak_bucket_bytes_; }
  // Gradient memory at its peak, measured so: the buckets alive at once, plus (release_buckets)
  // the kept chunks.
  int64_t measured_gradient_bytes() const { return peak_bucket_bytes_ + shard_bytes_; }
  const std::vector<BucketTiming>& timings() const { return timings_; }
  // Sampled as each gradient arrives (in the probed steps), for the measured peak.
  void set_memory_probe(MemoryProbe* probe) { probe_ = probe; }
  // Called with a bucket's index once all its gradients of a synchronising step are in it (its
  // parameters are no longer needed by this backward: ZeRO-3 frees them).
  void set_on_bucket_filled(std::function<void(size_t bucket)> f) { on_filled_ = std::move(f); }
  // After finalize(): this rank's share of the averaged gradient's squared L2 norm, such that the
  // sum over ranks is the whole (a double scalar on the device; no sync).
  torch::Tensor squared_norm_share() const;
  // After finalize(): the averaged gradients this rank keeps (whole buckets, or its chunks in
  // shard mode: all the optimizer reads) times `factor` in place (--grad-clip).
  void scale_gradients(const torch::Tensor& factor);

 private:
  struct Bucket {
    torch::Tensor flat;   // the whole bucket (with release_buckets only while being reduced)
    torch::Tensor shard;  // this rank's chunk of the average (shard mode; a view of flat if kept)
    size_t pending = 0;
    compat::Work work;
    PendingReduceScatter scatter;
    torch::Tensor wire, wire_shard;  // wire_bf16: the bucket (and this rank's chunk) in bf16
    int launched = -1, done = -1;    // marks of clock_
    int64_t allocated_bytes = 0;     // what the allocator counted for flat
    Bucket() = default;
    Bucket(Bucket&& o) noexcept
        : flat(std::move(o.flat)), shard(std::move(o.shard)), pending(o.pending) {}
    int64_t wire_bytes = 0;  // what the allocator counted for wire
  };
  void allocate(size_t b);  // the bucket's flat buffer; its parameters' .grad become views of it
  void release(size_t b);   // release_buckets: frees the whole bucket, once reduced
  void before_grad(size_t param);  // autograd is about to accumulate into param's .grad
  void on_grad(size_t param);      // ... and has: the gradient is in the bucket
  void launch_ready();
  void launch(Bucket& b);
  void finish(size_t b);    // waits for bucket b's collective and averages it
  void finish_completed();  // release_buckets: finishes the launched buckets already complete
  // The last timing()'s spans (clock seconds: backward's end, the last collective's end).
  void lay_on_trace(double backward_end, double waited_to);

  std::vector<torch::Tensor> params_;
  // The parameters' gradient accumulators, kept alive so that the hooks on them stay.
  // Per parameter (null: frozen), type-erased: the accumulator's pointer type is std::shared_ptr
  // in LibTorch 1.13 and c10::intrusive_ptr in 2.x.
  std::vector<std::shared_ptr<void>> accumulators_;
  BucketLayout layout_;
  std::vector<torch::Tensor> views_;  // param i's slice of its bucket, shaped like the param
  std::vector<char> got_;             // param k's gradient arrived this step
  std::vector<int> arrivals_;         // prepare_accumulation: param k's backwards so far
  int accumulations_ = 1;             // backwards that complete a gradient (micro-batches)
  std::vector<size_t> arrived_;       // per bucket: gradients in this micro-step (on_filled_)
  std::vector<Bucket> buckets_;
  std::vector<BucketTiming> timings_;
  compat::Group group_;
  int world_;
  ReducerOptions options_;
  size_t next_launch_ = 0;
  size_t next_finish_ = 0;  // buckets [0, next_finish_) are reduced and averaged this step
  bool sync_ = true;
  c10::Device device_;
  int64_t live_bucket_bytes_ = 0, peak_bucket_bytes_ = 0, shard_bytes_ = 0;  // measured
  int alive_ = 0;  // whole buckets allocated now
  double grad_scale_ = 1;
  MemoryProbe* probe_ = nullptr;
  std::function<void(size_t)> on_filled_;
  StreamClock clock_;
  bool device_streams_ = false;  // NCCL: completion read from CUDA events
  int backward_end_ = -1;        // mark at finalize(): backward is done
  StepTrace* trace_ = nullptr;
};

}  // namespace parallax
