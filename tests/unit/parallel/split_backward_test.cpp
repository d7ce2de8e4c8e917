// The zero-bubble split: I then W gives exactly (bit for bit) the gradients of one full backward,
// on ResNet pieces with and without batch norm, for the first piece (with and without the
// images' gradient), a middle piece (input gradient out) and the last piece (from the loss), with
// two micro-batches accumulated, in float64 and under bf16 autocast (weights cast on their way
// to the op); I alone computes no deferred weight gradient, W leaves the input gradient alone.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/blocks.h"
#include "models/partition.h"
#include "models/resnet.h"
#include "parallel/mixed_precision.h"
#include "parallel/split_backward.h"

namespace parallax {
namespace {

struct Grads {
  std::vector<torch::Tensor> params;
  std::vector<torch::Tensor> inputs;
};

// Runs blocks [begin, end) on two micro-batches, backward either full or split (I for both,
// then W for both: the order a zero-bubble schedule may take), from a given output gradient or,
// for the last piece, from the loss.
Grads run(ModelBlocks& model, size_t begin, size_t end, bool split, bool from_loss,
          bool input_grad = true, const Precision& precision = {}) {
  torch::manual_seed(1);
  model.zero_grad();
  std::vector<torch::Tensor> xs, ys, gs;
  const std::vector<int64_t> images{4, 3, 8, 8};
  const auto shape =
      begin == 0 ? images : block_output_shapes(model, images, torch::kCPU)[begin - 1];
  for (int m = 0; m < 2; ++m) {
    auto x = torch::randn(shape, model.scalar_type()).requires_grad_(true);
    torch::Tensor y;
    {
      const AutocastGuard autocast(precision, torch::kCPU);
      y = model.forward_range(x, begin, end);
    }
    if (precision.autocast) y = y.to(model.scalar_type());
    if (from_loss)
      y = torch::nn::functional::cross_entropy(y, torch::tensor({1, 2, 3, 4}, torch::kLong)) * 0.5;
    xs.push_back(x);
    ys.push_back(y);
    gs.push_back(from_loss ? torch::Tensor() : torch::randn_like(y));
  }
  Grads out;
  if (!split) {
    for (int m = 0; m < 2; ++m) {
      if (from_loss)
        ys[m].backward();
      else
        ys[m].backward(gs[m]);
      if (input_grad) out.inputs.push_back(xs[m].grad().clone());
    }
  } else {
    std::vector<std::shared_ptr<PendingWeightGradient>> pending;
    for (int m = 0; m < 2; ++m) {
      auto r = backward_input(ys[m], gs[m], xs[m], input_grad);
      EXPECT_EQ(r.input_grad.defined(), input_grad);
      if (input_grad) out.inputs.push_back(r.input_grad.clone());
      pending.push_back(r.weights);
    }
    for (auto& p : pending) backward_weight(*p);
    // W computed no input gradient again: what I accumulated into the inputs is unchanged.
    for (size_t m = 0; m < out.inputs.size(); ++m)
      EXPECT_TRUE(torch::equal(xs[m].grad(), out.inputs[m])) << m;
  }
  for (const auto& p : model.parameters())
    out.params.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  return out;
}

void expect_identical(const Grads& a, const Grads& b) {
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    ASSERT_EQ(a.params[i].defined(), b.params[i].defined()) << i;
    if (a.params[i].defined()) {
      EXPECT_TRUE(torch::equal(a.params[i], b.params[i])) << i;
    }
  }
  for (size_t m = 0; m < a.inputs.size(); ++m)
    EXPECT_TRUE(torch::equal(a.inputs[m], b.inputs[m])) << m;
}

class SplitBackward : public ::testing::TestWithParam<bool> {};

TEST_P(SplitBackward, InputThenWeightGradientsEqualTheFullBackwardExactly) {
  auto model = make_resnet({"resnet20", 3, 10, /*batch_norm=*/GetParam()});
  model->to(torch::kDouble);
  model->train();
  const size_t blocks = model->blocks().size();
  ASSERT_GT(blocks, 8u);
  // The first piece (the images' gradient too), a middle one (a stride and a shortcut), and
  // the last (to fc, from the loss).
  for (const auto& [begin, end] :
       std::vector<std::pair<size_t, size_t>>{{0, 4}, {3, 8}, {7, blocks}}) {
    SCOPED_TRACE(model->blocks()[begin].name + " .. " + model->blocks()[end - 1].name);
    const bool last = end == blocks;
    expect_identical(run(*model, begin, end, false, last), run(*model, begin, end, true, last));
  }
  // The first piece as a pipeline's rank 0 runs it: no gradient for the images.
  expect_identical(run(*model, 0, 4, false, false, false), run(*model, 0, 4, true, false, false));
}

TEST_P(SplitBackward, UnderBf16AutocastTooWhereTheWeightsAreCast) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no bf16 arithmetic";
  auto model = make_resnet({"resnet20", 3, 10, GetParam()});
  model->train();
  Precision bf16;
  bf16.autocast = true;
  bf16.compute = torch::kBFloat16;
  bf16.name = "bf16";
  const size_t blocks = model->blocks().size();
  for (const auto& [begin, end] : std::vector<std::pair<size_t, size_t>>{{0, 4}, {7, blocks}}) {
    const bool last = end == blocks;
    expect_identical(run(*model, begin, end, false, last, true, bf16),
                     run(*model, begin, end, true, last, true, bf16));
  }
}

TEST_P(SplitBackward, TheInputPassLeavesTheDeferredWeightGradientsToW) {
  auto model = make_resnet({"resnet20", 3, 10, GetParam()});
  model->to(torch::kDouble);
  model->train();
  model->zero_grad();
  auto x = torch::randn({4, 3, 8, 8}, torch::kDouble).requires_grad_(true);
  auto y = model->forward_range(x, 0, 4);
  auto r = backward_input(y, torch::ones_like(y), x, /*input_grad_needed=*/false);
  EXPECT_FALSE(r.input_grad.defined());
  int conv_grads = 0, norm_grads = 0;
  for (const auto& item : model->named_parameters()) {
    const bool norm = item.key().find("bn") != std::string::npos;
    if (item.value().grad().defined()) (norm ? norm_grads : conv_grads)++;
  }
  EXPECT_EQ(conv_grads, 0);                  // deferred to W
  if (GetParam()) {
    EXPECT_GT(norm_grads, 0);  // a norm layer's come with I
  }
  backward_weight(*r.weights);
  for (const auto& item : model->named_parameters()) {
    const auto& name = item.key();
    const bool used = name.rfind("stem", 0) == 0 || name.rfind("layer1", 0) == 0;
    EXPECT_EQ(item.value().grad().defined(), used) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Norm, SplitBackward, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "BatchNorm" : "NoNorm"; });

}  // namespace
}  // namespace parallax
