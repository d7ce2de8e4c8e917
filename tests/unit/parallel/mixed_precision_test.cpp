// Mixed precision's pieces: the autocast guard turns autocast on for its scope only (nesting
// included), the device checks refuse in one line, and bucket views keep a channels-last
// parameter's strides.
#include "parallel/mixed_precision.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/user_error.h"
#include "distributed/torch_compat.h"
#include "parallel/grad_reducer.h"

namespace parallax {
namespace {

Precision bf16() {
  Config cfg;
  cfg.precision = "bf16";
  if (!cpu_has_bf16()) {
    // The check itself: a CPU without bf16 is refused, naming what to do.
    EXPECT_THROW(precision_for(cfg, torch::kCPU), UserError);
    Precision p;
    p.autocast = true;
    p.compute = torch::kBFloat16;
    return p;
  }
  return precision_for(cfg, torch::kCPU);
}

TEST(MixedPrecision, AutocastGuardCoversItsScopeOnly) {
  const auto p = bf16();
  ASSERT_TRUE(p.autocast);
  EXPECT_EQ(p.compute, torch::kBFloat16);
  EXPECT_FALSE(p.loss_scaling);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 4, 3));
  const auto x = torch::randn({2, 3, 8, 8});
  {
    const AutocastGuard outer(p, torch::kCPU);
    EXPECT_EQ(conv->forward(x).scalar_type(), torch::kBFloat16);
    {
      const AutocastGuard inner(p, torch::kCPU);
      EXPECT_EQ(conv->forward(x).scalar_type(), torch::kBFloat16);
    }
    EXPECT_TRUE(compat::autocast_enabled(c10::DeviceType::CPU));  // the outer one still holds
  }
  EXPECT_FALSE(compat::autocast_enabled(c10::DeviceType::CPU));
  EXPECT_EQ(conv->forward(x).scalar_type(), torch::kFloat);
  // The weights stay fp32 master weights, and their gradient fp32.
  torch::Tensor y;
  {
    const AutocastGuard guard(p, torch::kCPU);
    y = conv->forward(x);
  }
  y.to(torch::kFloat).sum().backward();
  EXPECT_EQ(conv->weight.scalar_type(), torch::kFloat);
  EXPECT_EQ(conv->weight.grad().scalar_type(), torch::kFloat);
  // fp32: the guard does nothing.
  {
    const AutocastGuard none(Precision{}, torch::kCPU);
    EXPECT_EQ(conv->forward(x).scalar_type(), torch::kFloat);
  }
}

TEST(MixedPrecision, UnsupportedCombinationsAreRefusedInOneLine) {
  Config cfg;
  cfg.precision = "bf16";
  cfg.dtype = "fp64";
  try {
    precision_for(cfg, torch::kCPU);
    FAIL() << "bf16 with fp64 master weights was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--precision bf16"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  cfg.dtype = "fp32";
  cfg.precision = "fp16";
  if (compat::kCpuAutocastHalf) {
    const auto p = precision_for(cfg, torch::kCPU);
    EXPECT_TRUE(p.loss_scaling);
    EXPECT_EQ(p.compute, torch::kHalf);
  } else {
    EXPECT_THROW(precision_for(cfg, torch::kCPU), UserError);
  }
  cfg.precision = "fp32";
  EXPECT_FALSE(precision_for(cfg, torch::kCPU).autocast);
}

TEST(MixedPrecision, BucketViewsKeepAChannelsLastParametersStrides) {
  const auto param = torch::randn({4, 3, 2, 2}).contiguous(torch::MemoryFormat::ChannelsLast);
  auto flat = torch::zeros({100});
  auto view = bucket_view(flat, 10, param);
  EXPECT_EQ(view.strides(), param.strides());
  EXPECT_TRUE(view.is_contiguous(torch::MemoryFormat::ChannelsLast));
  view.copy_(param);
  // The flat slice holds the parameter in its own memory order, and nothing outside it.
  const auto nhwc = param.permute({0, 2, 3, 1}).reshape(-1);
  EXPECT_TRUE(flat.narrow(0, 10, param.numel()).equal(nhwc));
  EXPECT_EQ(flat.narrow(0, 0, 10).abs().sum().item<float>(), 0);
  EXPECT_EQ(flat.narrow(0, 10 + param.numel(), 100 - 10 - param.numel()).abs().sum().item<float>(),
            0);
  // A contiguous parameter gets a plain view.
  const auto plain = torch::randn({4, 3, 2, 2});
  EXPECT_TRUE(bucket_view(flat, 0, plain).is_contiguous());
}

}  // namespace
}  // namespace parallax
