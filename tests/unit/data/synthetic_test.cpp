// Synthetic data: deterministic from the seed, right shapes and label ranges, classes separable.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/synthetic.h"

namespace parallax {
namespace {

TEST(Synthetic, SameSeedSameBytesOtherSeedOtherBytes) {
  SyntheticSpec s;
  s.train = 64;
  s.test = 16;
  const Dataset a = make_synthetic(s), b = make_synthetic(s);
  EXPECT_TRUE(torch::equal(a.train.images, b.train.images));
  EXPECT_TRUE(torch::equal(a.test.labels, b.test.labels));
  s.seed = 1;
  EXPECT_FALSE(torch::equal(a.train.images, make_synthetic(s).train.images));
}

TEST(Synthetic, ShapesAndLabelsFollowTheSpec) {
  SyntheticSpec s;
  s.kind = "random";
  s.train = 360;
  s.test = 10;
  s.image_size = 128;
  s.channels = 3;
  s.classes = 10;
  const Dataset d = make_synthetic(s);
  EXPECT_EQ(d.train.images.sizes(), (std::vector<int64_t>{360, 3, 128, 128}));
  EXPECT_EQ(d.train.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(d.test.size(), 10);
  EXPECT_GE(d.train.labels.min().item<int64_t>(), 0);
  EXPECT_LT(d.train.labels.max().item<int64_t>(), 10);
}

TEST(Synthetic, LearnableClassesDifferInTheirMeanImage) {
  SyntheticSpec s;
  s.train = 2000;
  s.classes = 4;
  s.image_size = 16;
  const Dataset d = make_synthetic(s);
  auto x = d.train.images.to(torch::kFloat);
  // Per-class mean colour is part of the pattern: class means must differ well beyond noise.
  std::vector<torch::Tensor> means;
  for (int64_t k = 0; k < 4; ++k) means.push_back(x.index({d.train.labels == k}).mean({0, 2, 3}));
  double min_gap = 1e9;
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b)
      min_gap = std::min(min_gap, (means[a] - means[b]).abs().max().item<double>());
  EXPECT_GT(min_gap, 3.0);
}

}  // namespace
}  // namespace parallax
