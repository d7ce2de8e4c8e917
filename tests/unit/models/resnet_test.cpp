// ResNet construction: parameter counts equal torchvision's (and He et al.'s), shapes, block names.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "config/user_error.h"
#include "models/resnet.h"
#include "models/resnet_blocks.h"

namespace parallax {
namespace {

int64_t params_of(const std::string& name, int64_t classes = 10, int64_t channels = 3) {
  return make_resnet({name, channels, classes, true})->parameter_count();
}

TEST(ResNet, ParameterCountsEqualTorchvisionFor10Classes) {
  EXPECT_EQ(params_of("resnet18"), 11181642);
  EXPECT_EQ(params_of("resnet34"), 21289802);
  EXPECT_EQ(params_of("resnet50"), 23528522);
  EXPECT_EQ(params_of("resnet101"), 42520650);
}

TEST(ResNet, CifarResNetsHaveOptionAShortcutsAndHeEtAlSizes) {
  EXPECT_EQ(params_of("resnet20"), 269722);
  EXPECT_EQ(params_of("resnet56"), 853018);
}

TEST(ResNet, InputChannelsAndClassesChangeOnlyStemAndHead) {
  // One input channel: the 7x7 stem loses 2 * 64 * 49 weights; 100 classes: fc grows by 90 * 2049.
  EXPECT_EQ(params_of("resnet50", 10, 1), 23528522 - 2 * 64 * 49);
  EXPECT_EQ(params_of("resnet50", 100, 3), 23528522 + 90 * 2049);
}

TEST(ResNet, BlocksAreNamedInOrderAndParametersFollowTorchvisionNames) {
  auto m = make_resnet({"resnet50", 3, 10, true});
  const auto& blocks = m->blocks();
  ASSERT_EQ(blocks.size(), 1u + 3 + 4 + 6 + 3 + 1);
  EXPECT_EQ(blocks.front().name, "stem");
  EXPECT_EQ(blocks[1].name, "layer1.0");
  EXPECT_EQ(m->index_of("layer3.0"), 8);
  EXPECT_EQ(blocks.back().name, "fc");
  auto named = m->named_parameters();
  EXPECT_TRUE(named.contains("layer3.0.downsample.0.weight"));
  EXPECT_TRUE(named.contains("layer1.2.bn3.bias"));
}

TEST(ResNet, ForwardGivesLogitsForEachLayoutAndBlockRangesCompose) {
  torch::manual_seed(0);
  for (const std::string name : {"resnet18", "resnet20"}) {
    auto m = make_resnet({name, 1, 7, true});
    m->eval();
    auto x = torch::randn({2, 1, 28, 28});
    auto y = m->forward(x);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 7})) << name;
    const size_t cut = 3;
    auto staged = m->forward_range(m->forward_range(x, 0, cut), cut, m->blocks().size());
    EXPECT_TRUE(torch::equal(y, staged)) << name;
  }
}

TEST(ResNet, NoNormModelHasNoBatchNorm) {
  auto m = make_resnet({"resnet20", 3, 10, false});
  for (const auto& p : m->named_parameters()) EXPECT_EQ(p.key().find("bn"), std::string::npos);
  EXPECT_EQ(m->named_buffers().size(), 0u);
}

TEST(ResNet, UnknownModelIsAUserError) {
  EXPECT_THROW(make_resnet({"resnet7", 3, 10, true}), UserError);
}

TEST(ModelBlocks, ParameterIndicesByBlockPointAtEachBlocksOwnParameters) {
  auto m = make_resnet({"resnet20", 3, 10, true});
  const auto all = m->parameters();
  const auto indices = m->parameter_indices_by_block();
  ASSERT_EQ(indices.size(), m->blocks().size());
  size_t total = 0;
  for (size_t b = 0; b < indices.size(); ++b) {
    const auto own = m->blocks()[b].block->parameters();
    ASSERT_EQ(indices[b].size(), own.size()) << m->blocks()[b].name;
    for (size_t i = 0; i < own.size(); ++i)
      EXPECT_TRUE(all[indices[b][i]].is_same(own[i])) << m->blocks()[b].name << " " << i;
    total += own.size();
  }
  EXPECT_EQ(total, all.size());
}

TEST(ModelBlocks, BeforeBlockIsCalledForEachBlockInOrder) {
  auto m = make_resnet({"resnet20", 3, 10, true});
  std::vector<size_t> seen;
  m->set_before_block([&](size_t b) { seen.push_back(b); });
  m->forward_range(torch::zeros({1, 3, 8, 8}), 0, 3);
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2}));
}

TEST(ResNet, SmallBatchesOnOneThreadComputeTheSameAsOneDnn) {
  // Under 16 images on one thread the 1x1 convolutions are one matrix product over all pixels
  // (LibTorch would take a 10x slower kernel); with two threads LibTorch uses oneDNN as it is.
  torch::manual_seed(3);
  auto m = make_resnet({"resnet50", 3, 10, false});
  const auto x = torch::randn({3, 3, 16, 16});
  auto run = [&](int threads) {
    at::set_num_threads(threads);
    for (auto& p : m->parameters()) p.mutable_grad().reset();
    auto y = m->forward(x);
    y.square().sum().backward();
    std::vector<torch::Tensor> out{y.detach()};
    for (const auto& p : m->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  const auto folded = run(1), reference = run(2);
  at::set_num_threads(1);
  ASSERT_EQ(folded.size(), reference.size());
  for (size_t i = 0; i < folded.size(); ++i) {
    const double scale = reference[i].abs().max().item<double>() + 1e-12;
    EXPECT_LT((folded[i] - reference[i]).abs().max().item<double>() / scale, 1e-4) << i;
  }
}

// A BN-free Bottleneck's output and parameter gradients against the same block computed with
// LibTorch's own convolutions (module forward), for a loss of the output's squares.
struct BlockRun {
  torch::Tensor y;
  std::vector<torch::Tensor> grads;
};

BlockRun run_block(Bottleneck& block, const torch::Tensor& x, bool plain) {
  auto conv = [&](const char* name) {
    return block.named_modules()[name]->as<torch::nn::Conv2d>();
  };
  torch::Tensor y;
  if (plain) {
    auto r = conv("conv1")->forward(x).relu();
    r = conv("conv2")->forward(r).relu();
    auto shortcut =
        block.named_modules().contains("downsample.0") ? conv("downsample.0")->forward(x) : x;
    y = (conv("conv3")->forward(r) + shortcut).relu();
  } else {
    y = block.forward(x);
  }
  y.square().sum().backward();
  BlockRun run{y.detach(), {}};
  for (auto& p : block.parameters()) {
    run.grads.push_back(p.grad().clone());
    p.mutable_grad().reset();
  }
  return run;
}

// Relative to the tensor's largest entry: a GEMM and oneDNN's convolution sum the same float
// products in another order, and the rounding that leaves scales with the values (a squared loss
// makes gradients of 1e2), which an absolute bound would tie to one CPU's blocking.
double relative_gap(const torch::Tensor& got, const torch::Tensor& want) {
  return ((got - want).abs().max() / (want.abs().max() + 1e-12)).item<double>();
}

void expect_same_block(const BlockRun& got, const BlockRun& want) {
  EXPECT_LT(relative_gap(got.y, want.y), 1e-5);
  ASSERT_EQ(got.grads.size(), want.grads.size());
  for (size_t i = 0; i < got.grads.size(); ++i)
    EXPECT_LT(relative_gap(got.grads[i], want.grads[i]), 1e-5) << i;
}

TEST(ResNet, BottleneckOnA1x1MapEqualsPlainConvolutions) {
  // On a 1x1 map the 3x3 convolution is computed from its centre tap only: the block's output and
  // every gradient (the 8 outer taps' included, which must be exactly zero) equal LibTorch's conv.
  torch::manual_seed(5);
  auto block = std::make_shared<Bottleneck>(64, 16, 1, false);  // BN-free: no BatchNorm state
  const auto x = torch::randn({5, 64, 1, 1});
  const auto got = run_block(*block, x, false);
  expect_same_block(got, run_block(*block, x, true));
  const auto outer = got.grads[1].clone();  // conv2's weight gradient, [16, 16, 3, 3]
  outer.select(3, 1).select(2, 1).zero_();
  EXPECT_EQ(outer.abs().max().item<double>(), 0.0);
}

TEST(ResNet, StrideTwoBottleneckOnA2x2MapEqualsPlainConvolutions) {
  // ResNet-50's layer4.0 at 32x32: its 3x3 and 1x1 stride-2 convolutions turn a 2x2 map into one
  // pixel and are computed as one matrix product each (single_pixel); a 1x1 map (also one pixel
  // out) and 3 and 17 images cover odd sizes and both sides of the 16-image pointwise threshold.
  torch::manual_seed(6);
  auto block = std::make_shared<Bottleneck>(32, 16, 2, false);
  for (int64_t side : {1, 2}) {
    for (int64_t images : {3, 17}) {
      SCOPED_TRACE("map " + std::to_string(side) + ", images " + std::to_string(images));
      const auto x = torch::randn({images, 32, side, side});
      const auto got = run_block(*block, x, false);
      EXPECT_EQ(got.y.sizes(), (std::vector<int64_t>{images, 64, 1, 1}));
      expect_same_block(got, run_block(*block, x, true));
    }
  }
}

TEST(ResNet, ChannelsLastWeightsComputeTheSameOnEveryPath) {
  // --channels-last: 3x3 weights in NHWC order reach the single-pixel path (ResNet-50's layer4 at
  // 32x32), which must read them in their logical (C, kh, kw) order.
  torch::manual_seed(7);
  auto model = make_resnet({"resnet50", 3, 10, false});
  const auto x = torch::randn({2, 3, 32, 32});
  const auto want = model->forward(x);
  model->set_channels_last();
  EXPECT_TRUE(model->parameters()[0].is_contiguous(torch::MemoryFormat::ChannelsLast));
  const auto got = model->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LT(relative_gap(got, want), 1e-5);
}

}  // namespace
}  // namespace parallax
