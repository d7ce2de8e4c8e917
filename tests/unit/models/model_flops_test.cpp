// Model FLOPs from the model's own shapes: ResNet-50 at 32x32 as torchvision's modules count
// (forward hooks on every Conv2d and Linear, 83,431,424 multiply-accumulates), and a GPT as
// PaLM's 6N + 12 L d T per token (N: the weights of the matrix products, the tied head's once).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/gpt.h"
#include "models/make_model.h"
#include "models/model_flops.h"

namespace parallax {
namespace {

TEST(ModelFlops, ResNet50CountsTheConvolutionsAndTheClassifierAsTorchvision) {
  ModelSpec spec;
  spec.name = "resnet50";
  auto model = make_model(spec);
  EXPECT_DOUBLE_EQ(forward_flops_per_sample(*model, {3, 32, 32}), 2.0 * 83'431'424);
  EXPECT_DOUBLE_EQ(training_flops_per_sample(*model, {3, 32, 32}), 6.0 * 83'431'424);
}

TEST(ModelFlops, GptIsSixNPlusTwelveLdTPerToken) {
  GptSpec s = gpt_spec("gpt-mini");
  s.vocab = 84;
  auto model = make_gpt(s);
  const double l = 4, d = 128, t = 64;
  const double n = l * 12 * d * d + 84 * d;  // the blocks' matrices and the tied head (no biases)
  EXPECT_DOUBLE_EQ(training_flops_per_sample(*model, {64}) / t, 6 * n + 12 * l * d * t);
}

}  // namespace
}  // namespace parallax
