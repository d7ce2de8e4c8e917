// GradReducer: DDP's gradient all-reduce in flat buckets, launched as autograd hooks fire.
#pragma once
#include <torch/types.h>

#include <atomic>
#include <vector>

#include "dist/torch_compat.h"

namespace parallax {

struct ReducerOptions {
  double first_bucket_mb = 1;  // small, so the first all-reduce starts early in backward
  double bucket_mb = 25;
  bool overlap = true;  // launch each bucket once full; false: all after backward
};

// Per step figures of the reducer.
struct ReduceStats {
  double wait_s = 0;  // time finalize() waited for all-reduces: communication not hidden
  double busy_s = 0;  // time some all-reduce was in flight (launch to completion, merged)
  int buckets = 0;
};

class GradReducer {
 public:
  // params in model order; buckets are filled in reverse order, as backward produces them.
  GradReducer(std::vector<torch::Tensor> params, compat::Group group, int world,
              const ReducerOptions& options);
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Before backward: the next gradients will be reduced (sync) or left to accumulate in .grad.
  void prepare(bool sync = true);
  // After backward: waits for every bucket, averages over ranks and makes each parameter's
  // .grad a view of its bucket. Every rank then holds bitwise the same gradients.
  ReduceStats finalize();

  const std::vector<int64_t>& bucket_bytes() const { return bucket_bytes_; }

 private:
  struct Bucket {
    torch::Tensor flat;
    std::vector<size_t> params;
    size_t pending = 0;
    compat::Work work;
    bool launched = false;
    double launched_at = 0;
    std::atomic<double> done_at{0};  // set by the communication thread on completion
    Bucket() = default;
    Bucket(Bucket&& o) noexcept
        : flat(std::move(o.flat)), params(std::move(o.params)), pending(o.pending) {}
  };
  void on_grad(size_t param, const torch::Tensor& grad);
  void launch_ready();
  void launch(Bucket& b);

  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> views_;  // param i's slice of its bucket, shaped like the param
  std::vector<size_t> bucket_of_;
  std::vector<char> got_;  // param k's gradient arrived this step
  std::vector<Bucket> buckets_;
  std::vector<int64_t> bucket_bytes_;
  compat::Group group_;
  int world_;
  ReducerOptions options_;
  size_t next_launch_ = 0;
  bool sync_ = true;
};

}  // namespace parallax
