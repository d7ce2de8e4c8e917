// The straggler reading from step records: each step split into work and waiting, the slow rank
// named only beyond the ranks' own step-to-step noise.
#include "metrics/stragglers.h"

#include <gtest/gtest.h>

#include "metrics/train_records.h"

namespace parallax {
namespace {

// Ten steps of `work` seconds plus `wait`, each step's work jittered by +-jitter.
RankTiming steady_rank(double work, double wait, double jitter) {
  std::vector<StepRecord> steps;
  for (int i = 0; i < 10; ++i) {
    StepRecord r;
    r.step = i;
    const double w = work + (i % 2 ? jitter : -jitter);
    r.comm_s = wait * 0.75;
    r.idle_s = wait * 0.25;
    r.step_s = w + wait;
    steps.push_back(r);
  }
  return rank_timing(steps, 0);
}

TEST(Stragglers, AStepSplitsIntoWorkAndWaitingAfterTheWarmUp) {
  std::vector<StepRecord> steps(4);
  for (int i = 0; i < 4; ++i) {
    steps[i].step = i;
    steps[i].step_s = i == 0 ? 9.0 : 1.0;  // the warm-up step, left out
    steps[i].comm_s = 0.2;
    steps[i].idle_s = 0.1;
  }
  const RankTiming t = rank_timing(steps, 1);
  EXPECT_DOUBLE_EQ(t.step_s.median, 1.0);
  EXPECT_DOUBLE_EQ(t.step_s.p90, 1.0);
  EXPECT_NEAR(t.wait_s.median, 0.3, 1e-12);
  EXPECT_NEAR(t.work_s.median, 0.7, 1e-12);
}

TEST(Stragglers, ASlowRankIsNamedWithTheOthersWait) {
  // Rank 2 works 40 ms a step, the others 20 ms and wait for it 20 ms of their 40 ms step.
  const std::vector<RankTiming> ranks = {steady_rank(0.020, 0.020, 0.001),
                                         steady_rank(0.021, 0.019, 0.001),
                                         steady_rank(0.040, 0.0, 0.001),
                                         steady_rank(0.020, 0.020, 0.001)};
  const auto s = find_straggler(ranks);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->rank, 2);
  EXPECT_NEAR(s->work_ratio, 2.0, 1e-9);  // over the lower median rank's 20 ms
  EXPECT_NEAR(s->others_wait_fraction, 0.5, 1e-9);
  EXPECT_EQ(s->reading,
            "rank 2 works 2.0x the median rank's time per step; the others wait for it 50% of "
            "the step");
}

TEST(Stragglers, NoneWithinNoiseOrOnOneRank) {
  EXPECT_FALSE(find_straggler({steady_rank(0.02, 0, 0.001)}).has_value());
  // 25% slower at the median, but the steps spread +-30%: within noise.
  EXPECT_FALSE(
      find_straggler({steady_rank(0.020, 0.005, 0.006), steady_rank(0.025, 0.0, 0.006)})
          .has_value());
  // Apart beyond the noise but only 5% slower: not called out.
  EXPECT_FALSE(
      find_straggler({steady_rank(0.020, 0.001, 0.0001), steady_rank(0.021, 0.0, 0.0001)})
          .has_value());
}

}  // namespace
}  // namespace parallax
