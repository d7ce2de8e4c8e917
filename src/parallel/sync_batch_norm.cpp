// SyncBatchNorm as an autograd function: forward combines per-rank means and variances, backward
// all-reduces sum(dy) and sum(dy * x_hat); the weight and bias gradients stay local (the gradient
// reducer averages them with the others).
#include "parallel/sync_batch_norm.h"

#include <torch/torch.h>

#include "distributed/collectives.h"

namespace parallax {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The group travels through autograd's saved data as an address; the strategy owns it.
void sum_statistics(compat::Backend* group, torch::Tensor& t, const char* purpose) {
  std::vector<torch::Tensor> tensors{t};
  all_reduce_sum(compat::Group::unsafe_reclaim_from_nonowning(group), tensors, purpose)->wait();
}

torch::Tensor per_channel(const torch::Tensor& v) {
  return v.view({1, -1, 1, 1});
}

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps, int64_t group_address, int64_t world) {
    auto* group = reinterpret_cast<compat::Backend*>(group_address);
    const int64_t channels = x.size(1);
    const double n = static_cast<double>(x.numel() / channels) * world;  // equal shares
    // Local mean and E[x^2] per channel, summed over ranks in double: no cancellation in float.
    auto [local_var, local_mean] = torch::var_mean(x, {0, 2, 3}, /*unbiased=*/false);
    auto mean = local_mean.to(torch::kDouble), var = local_var.to(torch::kDouble);
    auto stats = torch::cat({mean, var + mean * mean});
    sum_statistics(group, stats, "SyncBatchNorm statistics");
    stats.div_(world);
    auto global_mean = stats.narrow(0, 0, channels);
    auto global_var = (stats.narrow(0, channels, channels) - global_mean * global_mean).clamp_min(0);
    {
      torch::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(global_mean.to(running_mean.scalar_type()) * momentum);
      running_var.mul_(1 - momentum)
          .add_(global_var.to(running_var.scalar_type()) * (momentum * n / std::max(1.0, n - 1)));
    }
    auto invstd = (global_var + eps).rsqrt().to(x.scalar_type());
    auto x_hat = (x - per_channel(global_mean.to(x.scalar_type()))) * per_channel(invstd);
    ctx->save_for_backward({x_hat, weight, invstd});
    ctx->saved_data["group"] = group_address;
    ctx->saved_data["n"] = n;
    return x_hat * per_channel(weight) + per_channel(bias);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x_hat = saved[0];
    const auto& weight = saved[1];
    const auto& invstd = saved[2];
    auto* group = reinterpret_cast<compat::Backend*>(ctx->saved_data["group"].toInt());
    const double n = ctx->saved_data["n"].toDouble();
    const auto dy = grads[0].contiguous();
    const int64_t channels = dy.size(1);
    auto grad_bias = dy.sum({0, 2, 3});
    auto grad_weight = (dy * x_hat).sum({0, 2, 3});
    auto sums = torch::cat({grad_bias, grad_weight});
    // Over the global batch: how every rank's loss moves the statistics.
    sum_statistics(group, sums, "SyncBatchNorm gradient sums");
    auto mean_dy = per_channel(sums.narrow(0, 0, channels) / n);
    auto mean_dy_xhat = per_channel(sums.narrow(0, channels, channels) / n);
    auto dx = per_channel(weight * invstd) * (dy - mean_dy - x_hat * mean_dy_xhat);
    return {dx,
            grad_weight,
            grad_bias,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x,
                              const compat::Group& group, int world) {
  if (bn.num_batches_tracked.defined()) bn.num_batches_tracked += 1;
  // Under autocast x may be bf16/fp16: the statistics are computed in the weights' dtype.
  return SyncBatchNormFunction::apply(x.to(bn.weight.scalar_type()), bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                      bn.options.momentum().value_or(0.1), bn.options.eps(),
                                      reinterpret_cast<int64_t>(group.get()),
                                      static_cast<int64_t>(world));
}

NormOverride sync_batch_norm_over(compat::Group group, int world) {
  return [group, world](torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
    return sync_batch_norm(bn, x, group, world);
  };
}

}  // namespace parallax
