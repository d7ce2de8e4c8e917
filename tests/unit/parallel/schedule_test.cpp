// Pipeline schedules against hand-written tables (GPipe and 1F1B for M=4,P=2 and M=8,P=4).
#include <gtest/gtest.h>

#include "parallel/schedule.h"

namespace parallax {
namespace {

TEST(Schedule, GpipeRunsEveryForwardThenEveryBackward) {
  EXPECT_EQ(to_string(gpipe_schedule(4, 2, 0)), "F0 F1 F2 F3 B0 B1 B2 B3");
  EXPECT_EQ(to_string(gpipe_schedule(4, 2, 1)), "F0 F1 F2 F3 B0 B1 B2 B3");
  for (int s = 0; s < 4; ++s)
    EXPECT_EQ(to_string(gpipe_schedule(8, 4, s)),
              "F0 F1 F2 F3 F4 F5 F6 F7 B0 B1 B2 B3 B4 B5 B6 B7");
}

TEST(Schedule, OneFOneBForFourMicroBatchesOnTwoStages) {
  EXPECT_EQ(to_string(one_f_one_b_schedule(4, 2, 0)), "F0 F1 B0 F2 B1 F3 B2 B3");
  EXPECT_EQ(to_string(one_f_one_b_schedule(4, 2, 1)), "F0 B0 F1 B1 F2 B2 F3 B3");
}

TEST(Schedule, OneFOneBForEightMicroBatchesOnFourStages) {
  EXPECT_EQ(to_string(one_f_one_b_schedule(8, 4, 0)),
            "F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7");
  EXPECT_EQ(to_string(one_f_one_b_schedule(8, 4, 1)),
            "F0 F1 F2 B0 F3 B1 F4 B2 F5 B3 F6 B4 F7 B5 B6 B7");
  EXPECT_EQ(to_string(one_f_one_b_schedule(8, 4, 2)),
            "F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7");
  EXPECT_EQ(to_string(one_f_one_b_schedule(8, 4, 3)),
            "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7");
}

TEST(Schedule, FewerMicroBatchesThanStagesStillRunEachOnce) {
  // M=2 on 4 stages: stage 0 can only warm up with the 2 micro-batches there are.
  EXPECT_EQ(to_string(one_f_one_b_schedule(2, 4, 0)), "F0 F1 B0 B1");
  EXPECT_EQ(to_string(one_f_one_b_schedule(1, 1, 0)), "F0 B0");
  EXPECT_EQ(to_string(forward_schedule(3)), "F0 F1 F2");
}

TEST(Schedule, OneFOneBHoldsAtMostStagesMinusStageMicroBatches) {
  for (int s = 0; s < 4; ++s) {
    EXPECT_EQ(peak_in_flight(gpipe_schedule(8, 4, s)), 8);
    EXPECT_EQ(peak_in_flight(one_f_one_b_schedule(8, 4, s)), 4 - s);
  }
}

TEST(Schedule, TheoreticalBubble) {
  EXPECT_DOUBLE_EQ(theoretical_bubble(1, 2), 0.5);
  EXPECT_DOUBLE_EQ(theoretical_bubble(8, 4), 3.0 / 11.0);
  EXPECT_DOUBLE_EQ(theoretical_bubble(4, 1), 0.0);
}

}  // namespace
}  // namespace parallax
