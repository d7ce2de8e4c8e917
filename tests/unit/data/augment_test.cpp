// Augmentation and loading: pure crop/flip choices, exact pixel mapping, sampler orders, batches.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "data/augment.h"
#include "data/loader.h"
#include "data/sampler.h"

namespace parallax {
namespace {

TEST(Augment, CropFlipIsAPureFunctionOfSeedEpochSample) {
  std::set<std::tuple<int, int, bool>> seen;
  for (int64_t i = 0; i < 500; ++i) {
    const CropFlip a = crop_flip_for(7, 3, i), b = crop_flip_for(7, 3, i);
    EXPECT_EQ(a.dy, b.dy);
    EXPECT_EQ(a.dx, b.dx);
    EXPECT_EQ(a.flip, b.flip);
    EXPECT_GE(a.dy, -kCropPadding);
    EXPECT_LE(a.dx, kCropPadding);
    seen.insert({a.dy, a.dx, a.flip});
  }
  EXPECT_GT(seen.size(), 100u);  // 9 x 9 x 2 = 162 choices, well spread
  int differ = 0;
  for (int64_t i = 0; i < 100; ++i)
    differ += crop_flip_for(7, 4, i).dx != crop_flip_for(7, 3, i).dx;
  EXPECT_GT(differ, 50);  // another epoch, other crops
}

TEST(Augment, WriteSampleShiftsFlipsPadsAndNormalises) {
  // One 1x3x3 image with pixels 0..8 (row-major); mean 0, std 1/255 so out = pixel value.
  std::vector<uint8_t> img = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  Normalization n{{0.f}, {1.f / 255.f}};
  std::vector<float> out(9);
  write_sample(img.data(), 1, 3, 3, n, nullptr, out.data());
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(out[i], i);

  CropFlip shift{1, 1, false};  // out[y][x] = in[y+1][x+1], zero outside
  write_sample(img.data(), 1, 3, 3, n, &shift, out.data());
  EXPECT_EQ(out, (std::vector<float>{4, 5, 0, 7, 8, 0, 0, 0, 0}));

  CropFlip flip{0, 0, true};
  write_sample(img.data(), 1, 3, 3, n, &flip, out.data());
  EXPECT_EQ(out, (std::vector<float>{2, 1, 0, 5, 4, 3, 8, 7, 6}));
}

TEST(Augment, ChannelStatsMatchTensorMath) {
  auto x = torch::randint(0, 256, {20, 3, 8, 8}, torch::kUInt8);
  const Normalization n = channel_stats(x);
  auto f = x.to(torch::kDouble) / 255.0;
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(n.mean[c], f.select(1, c).mean().item<double>(), 1e-6);
    EXPECT_NEAR(n.std[c], f.select(1, c).std().item<double>(), 1e-5);
  }
}

TEST(Sampler, EachEpochIsAPermutationReshuffledDeterministically) {
  Sampler a(100, true, 5), b(100, true, 5);
  std::vector<int64_t> e0 = a.indices();
  std::set<int64_t> all(e0.begin(), e0.end());
  EXPECT_EQ(all.size(), 100u);
  a.set_epoch(1);
  EXPECT_NE(a.indices(), e0);
  b.set_epoch(1);
  EXPECT_EQ(a.indices(), b.indices());
  Sampler plain(10, false, 5);
  EXPECT_EQ(plain.indices(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Sampler, RankSharesAreDisjointAndCoverTheEpoch) {
  std::set<int64_t> covered;
  for (int r = 0; r < 4; ++r) {
    Sampler s(40, true, 9, r, 4);
    s.set_epoch(2);
    EXPECT_EQ(s.indices().size(), 10u);
    for (auto i : s.indices()) EXPECT_TRUE(covered.insert(i).second) << "index " << i << " twice";
  }
  EXPECT_EQ(covered.size(), 40u);
}

TEST(Sampler, UnevenShardsPadForTrainingAndCoverExactlyOnceForEvaluation) {
  std::multiset<int64_t> padded;
  std::set<int64_t> exact;
  int64_t exact_total = 0;
  for (int r = 0; r < 4; ++r) {
    Sampler train(42, true, 3, r, 4, /*pad=*/true);
    train.set_epoch(1);
    EXPECT_EQ(train.indices().size(), 11u);  // ceil(42 / 4): every rank the same step count
    padded.insert(train.indices().begin(), train.indices().end());
    Sampler eval(42, false, 3, r, 4, /*pad=*/false);
    exact_total += static_cast<int64_t>(eval.indices().size());
    exact.insert(eval.indices().begin(), eval.indices().end());
  }
  for (int64_t i = 0; i < 42; ++i) EXPECT_GE(padded.count(i), 1u) << "index " << i;
  EXPECT_EQ(padded.size(), 44u);  // 2 samples repeated to pad
  EXPECT_EQ(exact_total, 42);
  EXPECT_EQ(exact.size(), 42u);
}

TEST(Loader, TrainDropsPartialBatchEvalKeepsItAndLabelsFollowTheOrder) {
  Split split{
      torch::arange(10, torch::kUInt8).view({10, 1, 1, 1}).expand({10, 1, 2, 2}).contiguous(),
      torch::arange(10, torch::kLong)};
  Normalization n{{0.f}, {1.f / 255.f}};
  Loader train(split, n, {4, true, false, 3, 0, 1}, torch::kCPU);
  EXPECT_EQ(train.batches(), 2);
  EXPECT_EQ(train.samples(), 8);
  Batch b = train.batch(1);
  // No augmentation: every pixel equals its label (the image was filled with its index).
  EXPECT_TRUE(torch::equal(b.images.amax({1, 2, 3}), b.labels.to(torch::kFloat)));
  Loader eval(split, n, {4, false, false, 3, 0, 1}, torch::kCPU);
  EXPECT_EQ(eval.batches(), 3);
  EXPECT_EQ(eval.batch(2).size(), 2);
  EXPECT_TRUE(torch::equal(eval.batch(2).labels, torch::tensor({8, 9}, torch::kLong)));
}

}  // namespace
}  // namespace parallax
