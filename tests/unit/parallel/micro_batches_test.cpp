// Micro-batch sizes: by count (even split), by size (the study's split size), and bad requests.
#include <gtest/gtest.h>

#include "parallel/micro_batches.h"
#include "test_util.h"

namespace parallax {
namespace {

using V = std::vector<int64_t>;

TEST(MicroBatches, ByCountSizesDifferByAtMostOne) {
  EXPECT_EQ(micro_batch_sizes(120, 8, 0, 1), V(8, 15));
  EXPECT_EQ(micro_batch_sizes(10, 4, 0, 1), (V{3, 3, 2, 2}));
  EXPECT_EQ(micro_batch_sizes(10, 6, 0, 1), (V{2, 2, 2, 2, 1, 1}));  // six, not torch.chunk's five
}

TEST(MicroBatches, BySplitSizeTheLastMayBeSmaller) {
  EXPECT_EQ(micro_batch_sizes(120, 0, 20, 1), V(6, 20));
  EXPECT_EQ(micro_batch_sizes(120, 0, 8, 1), V(15, 8));
  EXPECT_EQ(micro_batch_sizes(16, 0, 3, 1), (V{3, 3, 3, 3, 3, 1}));
  EXPECT_EQ(micro_batch_sizes(120, 0, 1, 1).size(), 120u);
}

TEST(MicroBatches, DefaultIsTheFallbackCappedAtTheBatch) {
  EXPECT_EQ(micro_batch_sizes(32, 0, 0, 8), V(8, 4));
  EXPECT_EQ(micro_batch_sizes(3, 0, 0, 8), V(3, 1));
}

TEST(MicroBatches, MoreThanTheBatchIsOneClearError) {
  testing::expect_user_error([] { micro_batch_sizes(16, 17, 0, 1); },
                             {"--micro-batches 17", "at most 16"});
  testing::expect_user_error([] { micro_batch_sizes(16, 0, 20, 1); },
                             {"--split-size 20", "at most 16"});
}

}  // namespace
}  // namespace parallax
