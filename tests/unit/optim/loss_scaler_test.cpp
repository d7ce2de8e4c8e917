// LossScaler, table-tested: overflow backs off and is counted, growth waits for a run of good
// steps, and the scale never drops below its floor.
#include "optim/loss_scaler.h"

#include <gtest/gtest.h>

namespace parallax {
namespace {

TEST(LossScaler, OverflowSkipsAndBacksOffGoodStepsGrow) {
  LossScaler s(LossScalerOptions{1024, 2, 0.5, 3, 1});
  EXPECT_EQ(s.scale(), 1024);
  EXPECT_FALSE(s.update(false));  // overflow: skip, halve
  EXPECT_EQ(s.scale(), 512);
  EXPECT_EQ(s.skipped(), 1);
  EXPECT_TRUE(s.update(true));
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 512);    // two good steps: not yet
  EXPECT_TRUE(s.update(true));  // the third grows it
  EXPECT_EQ(s.scale(), 1024);
  EXPECT_TRUE(s.update(true));
  EXPECT_FALSE(s.update(false));  // an overflow resets the streak
  EXPECT_EQ(s.good_streak(), 0);
  EXPECT_EQ(s.scale(), 512);
  EXPECT_EQ(s.skipped(), 2);
}

TEST(LossScaler, NeverBelowItsFloorAndRestores) {
  LossScaler s(LossScalerOptions{4, 2, 0.5, 2000, 1});
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), 1);
  EXPECT_EQ(s.skipped(), 5);
  s.restore(256, 7, 3);
  EXPECT_EQ(s.scale(), 256);
  EXPECT_EQ(s.good_streak(), 7);
  EXPECT_EQ(s.skipped(), 3);
}

}  // namespace
}  // namespace parallax
