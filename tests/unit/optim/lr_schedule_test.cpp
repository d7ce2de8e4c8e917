// LR schedules: exact values at the points that define each schedule.
#include <gtest/gtest.h>

#include "optim/lr_schedule.h"

namespace parallax {
namespace {

TEST(LrSchedule, ConstantWithLinearWarmup) {
  LrSchedule s{"constant", 0.4, 4, 100};
  EXPECT_DOUBLE_EQ(lr_at(s, 0), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(s, 3), 0.4);
  EXPECT_DOUBLE_EQ(lr_at(s, 99), 0.4);
}

TEST(LrSchedule, StepDecaysAtHalfAndThreeQuarters) {
  LrSchedule s{"step", 1.0, 0, 100};
  EXPECT_DOUBLE_EQ(lr_at(s, 49), 1.0);
  EXPECT_DOUBLE_EQ(lr_at(s, 50), 0.1);
  EXPECT_DOUBLE_EQ(lr_at(s, 75), 0.01);
}

TEST(LrSchedule, CosineFallsFromPeakToZeroAfterWarmup) {
  LrSchedule s{"cosine", 1.0, 10, 110};
  EXPECT_DOUBLE_EQ(lr_at(s, 10), 1.0);
  EXPECT_NEAR(lr_at(s, 60), 0.5, 1e-12);
  EXPECT_NEAR(lr_at(s, 110), 0.0, 1e-12);
}

TEST(LrSchedule, OneCycleMatchesPyTorchEndpoints) {
  LrSchedule s{"onecycle", 1.0, 0, 100};
  EXPECT_NEAR(lr_at(s, 0), 1.0 / 25, 1e-12);  // initial_lr = max_lr / div_factor
  EXPECT_NEAR(lr_at(s, 29), 1.0, 1e-12);      // peak at step pct_start * total - 1
  EXPECT_LT(lr_at(s, 28), 1.0);
  EXPECT_NEAR(lr_at(s, 99), 1.0 / 25 / 1e4, 1e-12);  // final_div_factor on the last step
}

}  // namespace
}  // namespace parallax

namespace parallax {
namespace {

// nanoGPT's decay: 100 warm-up steps, then cosine from 1e-3 to min_lr 1e-4 over the rest.
TEST(LrSchedule, CosineFallsToMinLrAsNanoGpt) {
  const LrSchedule s{"cosine", 1e-3, 100, 2000, 1e-4};
  EXPECT_DOUBLE_EQ(lr_at(s, 99), 1e-3);
  EXPECT_DOUBLE_EQ(lr_at(s, 100), 1e-3);
  EXPECT_NEAR(lr_at(s, 100 + 950), 0.5 * (1e-3 + 1e-4), 1e-12);  // half way: the mean
  EXPECT_NEAR(lr_at(s, 2000), 1e-4, 1e-15);
}

}  // namespace
}  // namespace parallax
