// Partitioning the block list: named cuts (the study's layer3.0), balanced cuts by cost, the
// per-block costs, and the errors for impossible requests.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/partition.h"
#include "models/resnet.h"
#include "test_util.h"

namespace parallax {
namespace {

using Cuts = std::vector<size_t>;

TEST(Partition, TheStudysCutOfResnet50) {
  auto m = make_resnet({"resnet50", 3, 10, true});
  const Partition p = partition_at(m->block_names(), "layer3.0", 2);
  // stem + layer1 (3) + layer2 (4) = blocks 0..7; layer3.0 is block 8 of 18.
  EXPECT_EQ(p.cuts, (Cuts{0, 8, 18}));
  EXPECT_EQ(partition_at(m->block_names(), "layer2.0,layer4.0", 3).cuts, (Cuts{0, 4, 14, 18}));
}

TEST(Partition, BadCutsAreOneClearLine) {
  auto m = make_resnet({"resnet20", 3, 10, false});
  const auto names = m->block_names();
  testing::expect_user_error([&] { partition_at(names, "layer9.0", 2); },
                             {"--split-at layer9.0", "no such block", "layer3.0"});
  testing::expect_user_error([&] { partition_at(names, "layer3.0", 3); },
                             {"--split-at layer3.0", "3 ranks per pipeline", "give 2"});
  testing::expect_user_error([&] { partition_at(names, "layer3.0,layer2.0", 3); }, {"model order"});
  testing::expect_user_error([&] { partition_at(names, "stem", 2); }, {"stem"});
  testing::expect_user_error([&] { partition_balanced(std::vector<double>(11, 1.0), 12); },
                             {"12 stages", "only 11 blocks"});
}

TEST(Partition, BalancedMinimisesTheLargestStage) {
  EXPECT_EQ(partition_balanced({1, 1, 1, 1}, 2).cuts, (Cuts{0, 2, 4}));
  EXPECT_EQ(partition_balanced({5, 1, 1, 1, 1, 1}, 2).cuts, (Cuts{0, 1, 6}));
  EXPECT_EQ(partition_balanced({1, 2, 3, 4, 5, 6}, 3).cuts, (Cuts{0, 3, 5, 6}));  // 6 | 9 | 6
  EXPECT_EQ(partition_balanced({1, 1, 1}, 3).cuts, (Cuts{0, 1, 2, 3}));
  EXPECT_EQ(partition_balanced({7}, 1).cuts, (Cuts{0, 1}));
}

TEST(Partition, CostsByBlocksParamsAndTime) {
  auto m = make_resnet({"resnet20", 3, 10, false});
  const std::vector<int64_t> input{4, 3, 16, 16};
  const auto blocks = block_costs(*m, "blocks", input, torch::kCPU);
  EXPECT_EQ(blocks, std::vector<double>(11, 1.0));
  const auto params = block_costs(*m, "params", input, torch::kCPU);
  double total = 0;
  for (double p : params) total += p;
  EXPECT_EQ(total, m->parameter_count());
  EXPECT_EQ(params.front(), 3 * 16 * 9);  // the stem's 3x3 convolution, no bias, no BatchNorm
  const auto before = m->parameters().front().clone();
  const auto time = block_costs(*m, "time", input, torch::kCPU);
  ASSERT_EQ(time.size(), 11u);
  for (double t : time) EXPECT_GT(t, 0);
  EXPECT_TRUE(torch::equal(before, m->parameters().front()));  // profiling trains nothing
  for (const auto& p : m->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Partition, OutputShapesOfEachBlock) {
  auto m = make_resnet({"resnet20", 3, 10, true});
  const auto shapes = block_output_shapes(*m, {2, 3, 16, 16}, torch::kCPU);
  ASSERT_EQ(shapes.size(), 11u);
  EXPECT_EQ(shapes.front(), (std::vector<int64_t>{2, 16, 16, 16}));
  EXPECT_EQ(shapes[m->index_of("layer3.0")], (std::vector<int64_t>{2, 64, 4, 4}));
  EXPECT_EQ(shapes.back(), (std::vector<int64_t>{2, 10}));
}

}  // namespace
}  // namespace parallax
