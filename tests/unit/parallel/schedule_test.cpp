// Pipeline schedules against hand-written tables (every schedule for M=4,P=2 and M=8,P=4, with
// two chunks per rank for interleaved 1F1B and ZB-V), and played out by the simulator: each
// rank runs every action once, none waits forever, unit costs give each schedule's bubble
// formula, and each holds the micro-batches its name promises.
#include <gtest/gtest.h>

#include <set>
#include <type_traits>
#include <utility>

#include "metrics/pipeline_bubble.h"
#include "parallel/schedule.h"
#include "parallel/schedule_simulator.h"
#include "report/report_data.h"

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
  EXPECT_DOUBLE_EQ(theoretical_bubble(StageCount(2), MicroBatchCount(1)), 0.5);
  EXPECT_DOUBLE_EQ(theoretical_bubble(StageCount(4), MicroBatchCount(8)), 3.0 / 11.0);
  EXPECT_DOUBLE_EQ(theoretical_bubble(StageCount(1), MicroBatchCount(4)), 0.0);
  EXPECT_DOUBLE_EQ(bubble_theory("1f1b", 8, 4, 1), 3.0 / 11.0);  // (micro, stages, chunks)
}

// Whether theoretical_bubble(A, B) compiles, with every declaration of it in view (the
// schedules' and the report's).
template <typename A, typename B, typename = void>
struct BubbleTakes : std::false_type {};
template <typename A, typename B>
struct BubbleTakes<A, B,
                   std::void_t<decltype(theoretical_bubble(std::declval<A>(), std::declval<B>()))>>
    : std::true_type {};

// One name per meaning: two bare numbers once chose between (micro, stages) and (stages, micro)
// by their type alone, so a caller passing ints got the other order without a word.
TEST(Schedule, NoBubbleTheoryTakesTwoBareNumbers) {
  EXPECT_FALSE((BubbleTakes<int, int>::value));
  EXPECT_FALSE((BubbleTakes<double, double>::value));
  EXPECT_FALSE((BubbleTakes<int, double>::value));
  EXPECT_FALSE((BubbleTakes<MicroBatchCount, StageCount>::value));
  EXPECT_TRUE((BubbleTakes<StageCount, MicroBatchCount>::value));
  EXPECT_DOUBLE_EQ(theoretical_bubble(StageCount(4), MicroBatchCount(12)), 3.0 / 15);
}

using Table = std::vector<std::string>;

Table table(const std::string& schedule, int micro, int stages) {
  Table t;
  for (const auto& a : all_schedules(schedule, micro, layout_for(schedule, stages, 2)))
    t.push_back(to_string(a));
  return t;
}

TEST(Schedule, InterleavedOneFOneBWithTwoChunks) {
  // Megatron's: 2(p-s-1) + (v-1)p warm-up forwards, micro-batches round the chunks in groups of p.
  EXPECT_EQ(table("interleaved-1f1b", 4, 2),
            (Table{"F0 F1 F0.1 F1.1 F2 B0.1 F3 B1.1 F2.1 B0 F3.1 B1 B2.1 B3.1 B2 B3",
                   "F0 F1 F0.1 B0.1 F1.1 B1.1 F2 B0 F3 B1 F2.1 B2.1 F3.1 B3.1 B2 B3"}));
  EXPECT_EQ(table("interleaved-1f1b", 8, 4),
            (Table{"F0 F1 F2 F3 F0.1 F1.1 F2.1 F3.1 F4 F5 F6 B0.1 F7 B1.1 F4.1 B2.1 F5.1 B3.1 "
                   "F6.1 B0 F7.1 B1 B2 B3 B4.1 B5.1 B6.1 B7.1 B4 B5 B6 B7",
                   "F0 F1 F2 F3 F0.1 F1.1 F2.1 F3.1 F4 B0.1 F5 B1.1 F6 B2.1 F7 B3.1 F4.1 B0 "
                   "F5.1 B1 F6.1 B2 F7.1 B3 B4.1 B5.1 B6.1 B7.1 B4 B5 B6 B7",
                   "F0 F1 F2 F3 F0.1 F1.1 F2.1 B0.1 F3.1 B1.1 F4 B2.1 F5 B3.1 F6 B0 F7 B1 F4.1 "
                   "B2 F5.1 B3 F6.1 B4.1 F7.1 B5.1 B6.1 B7.1 B4 B5 B6 B7",
                   "F0 F1 F2 F3 F0.1 B0.1 F1.1 B1.1 F2.1 B2.1 F3.1 B3.1 F4 B0 F5 B1 F6 B2 F7 B3 "
                   "F4.1 B4.1 F5.1 B5.1 F6.1 B6.1 F7.1 B7.1 B4 B5 B6 B7"}));
}

TEST(Schedule, ZeroBubbleH1LagsEachStagesWeightGradients) {
  EXPECT_EQ(table("zb-h1", 4, 2),
            (Table{"F0 F1 I0 W0 F2 I1 W1 F3 I2 W2 I3 W3", "F0 I0 F1 I1 W0 F2 I2 W1 F3 I3 W2 W3"}));
  EXPECT_EQ(table("zb-h1", 8, 4),
            (Table{"F0 F1 F2 F3 I0 W0 F4 I1 W1 F5 I2 W2 F6 I3 W3 F7 I4 W4 I5 W5 I6 W6 I7 W7",
                   "F0 F1 F2 I0 F3 I1 W0 F4 I2 W1 F5 I3 W2 F6 I4 W3 F7 I5 W4 I6 W5 I7 W6 W7",
                   "F0 F1 I0 F2 I1 F3 I2 W0 F4 I3 W1 F5 I4 W2 F6 I5 W3 F7 I6 W4 I7 W5 W6 W7",
                   "F0 I0 F1 I1 F2 I2 F3 I3 W0 F4 I4 W1 F5 I5 W2 F6 I6 W3 F7 I7 W4 W5 W6 W7"}));
}

TEST(Schedule, ZeroBubbleH2WarmsUpWithMoreForwards) {
  EXPECT_EQ(table("zb-h2", 4, 2),
            (Table{"F0 F1 F2 I0 W0 F3 I1 W1 I2 W2 I3 W3", "F0 I0 F1 I1 F2 I2 W0 F3 I3 W1 W2 W3"}));
  EXPECT_EQ(table("zb-h2", 8, 4),
            (Table{"F0 F1 F2 F3 F4 F5 F6 I0 W0 F7 I1 W1 I2 W2 I3 W3 I4 W4 I5 W5 I6 W6 I7 W7",
                   "F0 F1 F2 F3 F4 I0 F5 I1 F6 I2 W0 F7 I3 W1 I4 W2 I5 W3 I6 W4 I7 W5 W6 W7",
                   "F0 F1 F2 I0 F3 I1 F4 I2 F5 I3 F6 I4 W0 F7 I5 W1 I6 W2 I7 W3 W4 W5 W6 W7",
                   "F0 I0 F1 I1 F2 I2 F3 I3 F4 I4 F5 I5 F6 I6 W0 F7 I7 W1 W2 W3 W4 W5 W6 W7"}));
}

TEST(Schedule, ZeroBubbleVRunsDownTheRanksAndBackUp) {
  const auto v = layout_for("zb-v", 2, 2);
  // Rank 0 holds the first and the last piece (the loss), rank 1 the two in the middle.
  EXPECT_EQ(v.piece(0, 0), 0);
  EXPECT_EQ(v.piece(1, 0), 1);
  EXPECT_EQ(v.piece(1, 1), 2);
  EXPECT_EQ(v.piece(0, 1), 3);
  EXPECT_EQ(v.owner(3), 0);
  EXPECT_EQ(table("zb-v", 4, 2),
            (Table{"F0 F1 F0.1 I0.1 F1.1 I1.1 I0 W0.1 I1 F2 W1.1 W0 F2.1 I2.1 F3 W1 I2 W2.1 "
                   "F3.1 I3.1 W2 W3.1 I3 W3",
                   "F0 F0.1 F1 F1.1 I0.1 I0 I1.1 I1 W0.1 W0 F2 F2.1 W1.1 W1 I2.1 I2 F3 F3.1 "
                   "W2.1 W2 I3.1 I3 W3.1 W3"}));
  const auto p4 = table("zb-v", 8, 4);
  ASSERT_EQ(p4.size(), 4u);
  EXPECT_EQ(p4[3],
            "F0 F0.1 F1 F1.1 F2 F2.1 F3 F3.1 I0.1 I0 I1.1 I1 I2.1 I2 I3.1 I3 W0.1 W0 F4 F4.1 "
            "W1.1 W1 W2.1 W2 F5 F5.1 I4.1 I4 F6 F6.1 W3.1 W3 I5.1 I5 F7 F7.1 I6.1 I6 W4.1 W4 "
            "W5.1 W5 I7.1 I7 W6.1 W6 W7.1 W7");
}

TEST(Schedule, ZeroBubbleVPlannedOnProfiledTimesFillsWhatUnitTimesLeave) {
  // W shorter than I (as on a CPU, where the norm layers' weight gradients come with I): the
  // plan made on those times idles less than the unit-time plan run on them.
  const int p = 2, m = 8;
  const ActionTimes real{0.5, 0.95, 0.6, 0.35};
  const std::vector<std::vector<std::array<double, 3>>> times(
      p, std::vector<std::array<double, 3>>(2, {real.forward, real.input, real.weight}));
  const auto v = layout_for("zb-v", p, 2);
  const auto unit = simulate_schedule(zb_v_schedules(m, p), v, m, real);
  const auto planned = simulate_schedule(zb_v_schedules(m, p, &times), v, m, real);
  EXPECT_EQ(planned.deadlock, "");
  EXPECT_LT(planned.bubble, 0.5 * unit.bubble);
  for (const auto& a : zb_v_schedules(m, p, &times)) EXPECT_LE(peak_in_flight(a), 2 * p);
}

TEST(Schedule, EveryScheduleRunsEachActionOnceAndNeverWaitsForever) {
  for (const auto& name : schedule_names())
    for (int p = 1; p <= 5; ++p)
      for (int m = 1; m <= 17; ++m) {
        const auto layout = layout_for(name, p, 2);
        if (!schedule_problem(name, m, layout).empty()) continue;
        SCOPED_TRACE(name + " p=" + std::to_string(p) + " m=" + std::to_string(m));
        const auto all = all_schedules(name, m, layout);
        const auto sim = simulate_schedule(all, layout, m, ActionTimes{});
        EXPECT_EQ(sim.deadlock, "");
        const bool split = name.rfind("zb", 0) == 0;
        for (const auto& actions : all) {
          EXPECT_EQ(actions.size(), static_cast<size_t>(m * layout.chunks * (split ? 3 : 2)));
          std::set<std::string> seen;
          for (const auto& a : actions) EXPECT_TRUE(seen.insert(to_string(a)).second);
        }
      }
}

TEST(Schedule, UnitCostsGiveEachSchedulesBubbleFormula) {
  for (const auto& name : schedule_names())
    for (const auto& [p, m] : std::vector<std::pair<int, int>>{{2, 4}, {4, 8}, {2, 8}, {2, 16}}) {
      const auto layout = layout_for(name, p, 2);
      SCOPED_TRACE(name + " p=" + std::to_string(p) + " m=" + std::to_string(m));
      // F = I = W per stage, split over the rank's chunks.
      const double c = 1.0 / layout.chunks;
      const auto sim =
          simulate_schedule(all_schedules(name, m, layout), layout, m, ActionTimes{c, 2 * c, c, c});
      EXPECT_NEAR(sim.bubble, bubble_theory(name, m, p, layout.chunks), 1e-12);
    }
  EXPECT_DOUBLE_EQ(bubble_theory("zb-h1", 8, 2, 1), 1.0 / 25);
  EXPECT_DOUBLE_EQ(bubble_theory("interleaved-1f1b", 8, 2, 2), 1.0 / 17);
  EXPECT_DOUBLE_EQ(bubble_theory("zb-v", 8, 2, 2), 1.0 / 49);
}

TEST(Schedule, ZeroBubbleH1FillsTheDrainWhenWeightGradientsAreCheaper) {
  // With W shorter than I, H1's bubble is (p-1)(F+I-W); H2's extra warm-up and longer lag fill
  // what H1 cannot.
  const ActionTimes t{1, 2.2, 1.4, 0.8};
  const auto h1 = layout_for("zb-h1", 4, 1);
  const double one = simulate_schedule(all_schedules("1f1b", 8, h1), h1, 8, t).bubble;
  const double b1 = simulate_schedule(all_schedules("zb-h1", 8, h1), h1, 8, t).bubble;
  const double b2 = simulate_schedule(all_schedules("zb-h2", 8, h1), h1, 8, t).bubble;
  EXPECT_LT(b1, one);
  EXPECT_LT(b2, b1);
}

TEST(Schedule, EachScheduleHoldsTheMicroBatchesItsNamePromises) {
  auto peak = [](const std::string& name, int m, int p) {
    int most = 0;
    for (const auto& a : all_schedules(name, m, layout_for(name, p, 2)))
      most = std::max(most, peak_in_flight(a));
    return most;
  };
  for (const int p : {2, 4}) {
    EXPECT_EQ(peak("1f1b", 16, p), p);
    EXPECT_EQ(peak("zb-h1", 16, p), p);          // 1F1B's
    EXPECT_EQ(peak("zb-h2", 16, p), 2 * p - 1);  // about twice
    EXPECT_EQ(peak("zb-v", 16, p), 2 * p);       // chunks of half a stage: 1F1B's p stages' worth
  }
}

TEST(Schedule, ProblemsAreOneLine) {
  EXPECT_NE(schedule_problem("interleaved-1f1b", 15, layout_for("interleaved-1f1b", 2, 2))
                .find("not a multiple of 2"),
            std::string::npos);
  EXPECT_EQ(schedule_problem("interleaved-1f1b", 16, layout_for("interleaved-1f1b", 2, 2)), "");
  EXPECT_NE(schedule_problem("zb-v", 4, layout_for("zb-v", 1, 2)), "");
}

}  // namespace
}  // namespace parallax
