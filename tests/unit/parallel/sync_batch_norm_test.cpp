// SyncBatchNorm on a one-rank Gloo group equals LibTorch's BatchNorm: output, input, weight and
// bias gradients, and running statistics.
#include "parallel/sync_batch_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

namespace parallax {
namespace {

TEST(SyncBatchNorm, OneRankEqualsBatchNorm) {
  torch::manual_seed(3);
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto opts = c10d::ProcessGroupGloo::Options::create();
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  compat::Group group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, 0, 1, opts);

  torch::nn::BatchNorm2d reference(6), synced(6);
  {
    torch::NoGradGuard no_grad;
    reference->weight.uniform_(0.5, 1.5);
    reference->bias.uniform_(-0.5, 0.5);
    synced->weight.copy_(reference->weight);
    synced->bias.copy_(reference->bias);
  }
  // Channels of very different scales and means, as after a convolution.
  auto x = (torch::randn({8, 6, 5, 5}) * torch::linspace(0.01, 10, 6).view({1, 6, 1, 1}) + 3)
               .requires_grad_();
  auto x2 = x.detach().clone().requires_grad_();
  auto g = torch::randn({8, 6, 5, 5});
  auto y = reference->forward(x);
  auto y2 = sync_batch_norm(*synced, x2, group, 1);
  (y * g).sum().backward();
  (y2 * g).sum().backward();
  auto close = [](const torch::Tensor& a, const torch::Tensor& b) {
    return ((a - b).abs().max() / a.abs().max().clamp_min(1e-12)).item<double>();
  };
  EXPECT_LT(close(y, y2), 1e-5);
  EXPECT_LT(close(x.grad(), x2.grad()), 1e-4);
  EXPECT_LT(close(reference->weight.grad(), synced->weight.grad()), 1e-5);
  EXPECT_LT(close(reference->bias.grad(), synced->bias.grad()), 1e-5);
  EXPECT_LT(close(reference->running_mean, synced->running_mean), 1e-6);
  EXPECT_LT(close(reference->running_var, synced->running_var), 1e-6);
}

}  // namespace
}  // namespace parallax
