// Activation recomputation: full and selective give no recomputation's gradients bitwise in
// float64 (GPT, ViT, a ResNet with BatchNorm), with dropout too; BatchNorm's statistics are
// updated once; the parameters' hooks fire once; a zero-bubble split's I and W give the same
// gradients; and the activations held after forward fall.
#include "models/recompute.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "config/user_error.h"
#include "metrics/heap.h"
#include "models/gpt.h"
#include "models/make_model.h"
#include "models/vit.h"
#include "parallel/split_backward.h"

namespace parallax::recompute_test {
namespace {

using MakeModel = std::function<std::shared_ptr<ModelBlocks>()>;

GptSpec small_gpt(double dropout = 0) {
  GptSpec s = gpt_spec("gpt-mini");
  s.layers = 3, s.heads = 2, s.width = 16, s.context = 12, s.vocab = 11;
  s.dropout = dropout;
  return s;
}

VitSpec small_vit(double dropout = 0) {
  VitSpec s = vit_spec("vit-tiny", 8, 3, 5);
  s.layers = 2, s.heads = 2, s.width = 16;
  s.dropout = dropout;
  return s;
}

torch::Tensor some_tokens() {
  torch::manual_seed(1);
  return torch::randint(11, {3, 12}, torch::kLong);
}

torch::Tensor some_images() {
  torch::manual_seed(1);
  return torch::randn({3, 3, 8, 8}, torch::kDouble);
}

// One training forward and backward of a fresh float64 model (seed 7) under `mode`, the same
// seed for dropout; the model comes back with its gradients and buffers.
std::shared_ptr<ModelBlocks> trained_step(const MakeModel& make, Recompute mode,
                                          const torch::Tensor& x, torch::Tensor* output = nullptr) {
  torch::manual_seed(7);
  auto model = make();
  model->set_floating_dtype(torch::kDouble);
  model->set_recompute(mode);
  model->train();
  torch::manual_seed(11);
  const auto y = model->forward(x);
  y.pow(2).sum().backward();
  if (output) *output = y.detach();
  return model;
}

// Every parameter's gradient, and every buffer, bitwise as without recomputation.
void expect_same_step(const MakeModel& make, Recompute mode, const torch::Tensor& x) {
  torch::Tensor y_plain, y_mode;
  const auto plain = trained_step(make, Recompute::kNone, x, &y_plain);
  const auto after_plain = torch::rand({4}, torch::kDouble);  // the generator as it was left
  const auto other = trained_step(make, mode, x, &y_mode);
  const auto after_other = torch::rand({4}, torch::kDouble);
  EXPECT_TRUE(torch::equal(y_plain, y_mode));
  EXPECT_TRUE(torch::equal(after_plain, after_other)) << "the random-number state moved";
  const auto a = plain->named_parameters(), b = other->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) {
    const auto& ga = item.value().grad();
    const auto& gb = b[item.key()].grad();
    ASSERT_TRUE(ga.defined() && gb.defined()) << item.key();
    EXPECT_TRUE(torch::equal(ga, gb))
        << item.key() << " differs by " << (ga - gb).abs().max().item<double>();
  }
  const auto ba = plain->named_buffers(), bb = other->named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
}

TEST(Recompute, GptGradientsAreBitwiseThoseWithoutIt) {
  const MakeModel make = [] { return make_gpt(small_gpt()); };
  expect_same_step(make, Recompute::kFull, some_tokens());
  expect_same_step(make, Recompute::kSelective, some_tokens());
  const MakeModel explicit_form = [] {
    auto s = small_gpt();
    s.fused_attention = false;
    return make_gpt(s);
  };
  expect_same_step(explicit_form, Recompute::kSelective, some_tokens());
}

TEST(Recompute, VitGradientsAreBitwiseThoseWithoutIt) {
  const MakeModel make = [] { return make_vit(small_vit()); };
  expect_same_step(make, Recompute::kFull, some_images());
  expect_same_step(make, Recompute::kSelective, some_images());
}

TEST(Recompute, ResNetGradientsAndBatchNormStatisticsAreThoseWithoutIt) {
  const MakeModel make = [] { return make_model({"resnet20", 3, 5, /*batch_norm=*/true, 8}); };
  // expect_same_step compares the running statistics (updated once, not again in backward).
  expect_same_step(make, Recompute::kFull, some_images());
  torch::manual_seed(7);
  auto model = make();
  auto before = model->named_buffers()["layer1.0.bn1.running_mean"].clone();
  model->set_floating_dtype(torch::kDouble);
  model->set_recompute(Recompute::kFull);
  model->forward(some_images()).sum().backward();
  const auto& after = model->named_buffers()["layer1.0.bn1.running_mean"];
  EXPECT_FALSE(torch::equal(before.to(torch::kDouble), after));  // forward did update them
  EXPECT_THROW(model->set_recompute(Recompute::kSelective), UserError);
}

TEST(Recompute, DropoutDrawsTheSameMasksWhenRecomputed) {
  const MakeModel gpt = [] { return make_gpt(small_gpt(0.2)); };
  expect_same_step(gpt, Recompute::kFull, some_tokens());
  expect_same_step(gpt, Recompute::kSelective, some_tokens());
  const MakeModel vit = [] { return make_vit(small_vit(0.2)); };
  expect_same_step(vit, Recompute::kFull, some_images());
}

TEST(Recompute, EachParametersHooksFireOncePerBackward) {
  torch::manual_seed(7);
  auto model = make_gpt(small_gpt());
  model->set_floating_dtype(torch::kDouble);
  model->set_recompute(Recompute::kFull);
  const auto params = model->parameters();
  std::vector<int> fired(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i)
    params[i].register_hook([&fired, i](const torch::Tensor&) { ++fired[i]; });
  model->forward(some_tokens()).pow(2).sum().backward();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(fired[i], 1) << "parameter " << i;
}

// I then W (parallel/split_backward.h) over a recomputed model: I recomputes each block once and
// W hands over the parameters' gradients, equal to one plain backward's; on the first stage
// (no input gradient) W recomputes instead.
TEST(Recompute, AZeroBubbleSplitBackwardGivesThePlainGradients) {
  for (const bool first_stage : {false, true}) {
    SCOPED_TRACE(first_stage ? "first stage" : "later stage");
    std::vector<torch::Tensor> expected;
    torch::Tensor expected_input_grad;
    for (const bool split : {false, true}) {
      torch::manual_seed(7);
      auto model = make_vit(small_vit());
      model->set_floating_dtype(torch::kDouble);
      model->set_recompute(split ? Recompute::kFull : Recompute::kNone);
      const auto x = some_images().requires_grad_(true);
      const auto y = model->forward(x);
      const auto grad = torch::ones_like(y);
      if (!split) {
        y.backward(grad);
        for (const auto& p : model->parameters()) expected.push_back(p.grad().clone());
        expected_input_grad = x.grad().clone();
        continue;
      }
      auto r = backward_input(y, grad, x, /*input_grad_needed=*/!first_stage);
      for (const auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
      if (!first_stage) {
        EXPECT_TRUE(torch::equal(r.input_grad, expected_input_grad));
      }
      backward_weight(*r.weights);
      const auto params = model->parameters();
      for (size_t i = 0; i < params.size(); ++i)
        EXPECT_TRUE(torch::equal(params[i].grad(), expected[i])) << i;
    }
  }
}

// The function runs once in forward and once more in I; W reuses what I computed. Where I wants
// nothing of it (a first stage's first block), W is where it runs again.
TEST(Recompute, ASplitBackwardRecomputesOnce) {
  for (const bool input_grad_needed : {true, false}) {
    SCOPED_TRACE(input_grad_needed ? "input gradient" : "no input gradient");
    torch::manual_seed(3);
    const auto w = torch::randn({4, 4}, torch::kDouble).requires_grad_(true);
    const auto x = torch::randn({2, 4}, torch::kDouble).requires_grad_(true);
    int calls = 0;
    const auto f = [&calls, &w](const std::vector<torch::Tensor>& in) {
      ++calls;
      return torch::tanh(torch::matmul(in[0], w));
    };
    const auto y = recompute(f, {x}, {w}) * 2;
    EXPECT_EQ(calls, 1);
    auto r = backward_input(y, torch::ones_like(y), x, input_grad_needed);
    EXPECT_EQ(calls, input_grad_needed ? 2 : 1);
    EXPECT_FALSE(w.grad().defined());
    backward_weight(*r.weights);
    EXPECT_EQ(calls, 2);
    const auto plain = 2 * torch::tanh(torch::matmul(x.detach(), w.detach()));
    const auto dz = 2 * (1 - plain.pow(2) / 4);  // d(2 tanh z)/dz
    EXPECT_TRUE(torch::allclose(w.grad(), torch::matmul(x.detach().t(), dz)));
    if (input_grad_needed) {
      EXPECT_TRUE(torch::allclose(r.input_grad, torch::matmul(dz, w.detach().t())));
    }
  }
}

// Bytes the allocator holds once forward is done (the graph's saved tensors and the output).
int64_t held_after_forward(Recompute mode) {
  GptSpec s = small_gpt();
  s.layers = 6, s.heads = 4, s.width = 32, s.context = 64, s.vocab = 65;
  torch::manual_seed(7);
  auto model = make_gpt(s);
  model->set_recompute(mode);
  torch::manual_seed(1);
  const auto x = torch::randint(65, {8, 64}, torch::kLong);
  model->forward(x).sum().backward();  // warm-up: the allocator's one-off blocks
  const int64_t before = allocated_bytes(torch::kCPU);
  auto y = model->forward(x);
  const int64_t held = allocated_bytes(torch::kCPU) - before;
  y.sum().backward();
  return held;
}

TEST(Recompute, FullRecomputationHoldsAThirdOfTheActivationsOrLess) {
  if (allocated_bytes(torch::kCPU) < 0) GTEST_SKIP() << "the allocator gives no count here";
  const int64_t none = held_after_forward(Recompute::kNone);
  const int64_t selective = held_after_forward(Recompute::kSelective);
  const int64_t full = held_after_forward(Recompute::kFull);
  std::printf(
      "activations held after forward: none %lld, selective %lld, full %lld bytes "
      "(none / full %.1fx)\n",
      static_cast<long long>(none), static_cast<long long>(selective), static_cast<long long>(full),
      static_cast<double>(none) / full);
  EXPECT_GT(full, 0);
  EXPECT_GE(none, 3 * full);
  EXPECT_LT(selective, none);
}

}  // namespace
}  // namespace parallax::recompute_test
