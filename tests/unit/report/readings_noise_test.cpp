// Readings that respect noise: equal within the repeats' spread, faster beyond it, accuracy gaps
// against the test set's interval with their known cause, and one headline with the first chart.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "report/readings.h"
#include "report/readings_causes.h"
#include "report/readings_noise.h"
#include "report/report_data.h"
#include "unit/report/fixture_runs.h"

namespace parallax {
namespace {

using testing::fixture_run;
using testing::FixtureConfig;

// label, name, strategy, nproc, split size, img/s per repeat; the rest as the fixture's.
FixtureConfig config(const std::string& label, const std::string& strategy, int nproc, double ips0,
                     double ips1, double accuracy_offset = 0, int split = 0) {
  FixtureConfig c{label, label, strategy, nproc, split, {ips0, ips1}, 0, 0, -1, -1, 0, 1.0, {}};
  c.accuracy_offset = accuracy_offset;
  if (strategy == "model" || strategy == "pipeline") {
    c.bubble = strategy == "model" ? 0.52 : 0.2;
    c.bubble_theory = strategy == "model" ? 0.5 : 1.0 / 13;
    c.activation_bytes = {1e8, 4e7};
  }
  return c;
}

std::vector<RunRecord> runs_of(const std::vector<FixtureConfig>& configs) {
  std::vector<RunRecord> runs;
  for (const FixtureConfig& c : configs)
    for (int repeat = 0; repeat < 2; ++repeat) runs.push_back(fixture_run(c, repeat));
  return runs;
}

// The configuration a reading or headline names first, up to the text that follows it.
std::string name_before(const std::string& s, const std::string& after) {
  const auto at = s.find(after);
  return at == std::string::npos ? "" : s.substr(0, at);
}

TEST(ReadingsNoise, RepeatsSpreadAndTheTestSetInterval) {
  // Times 24.0 and 25.3 s against 24.5 and 25.8 s: 2.1% apart, each spread over 5.2%.
  const RepeatComparison close =
      compare_repeats(stat_of({24.0, 25.263}), stat_of({24.490, 25.806}));
  EXPECT_FALSE(close.differs);
  EXPECT_NEAR(close.gap, 0.0209, 1e-4);
  EXPECT_NEAR(close.spread, 0.0523, 1e-4);
  EXPECT_TRUE(compare_repeats(stat_of({24.0, 24.5}), stat_of({34.3, 34.8})).differs);
  // One run each: no spread is measured, so any gap counts (and the reading says so).
  const RepeatComparison single_runs = compare_repeats(stat_of({10}), stat_of({10.1}));
  EXPECT_FALSE(single_runs.measured);
  EXPECT_TRUE(single_runs.differs);
  // 95% Wilson half-width: about ±3.1% at 50% on 1000 images; never 0 at 100%.
  EXPECT_NEAR(wilson_half_width(0.5, 1000), 0.03093, 1e-4);
  EXPECT_NEAR(wilson_half_width(1.0, 256), 0.00739, 1e-4);
  EXPECT_EQ(factor_text(1.0525), "1.05x");
  EXPECT_EQ(factor_text(1.42), "1.4x");
}

TEST(ReadingsNoise, TimesWithinTheRepeatsSpreadAreEqual) {
  const auto runs =
      runs_of({config("ddp-nproc2", "ddp", 2, 200, 190), config("zero-nproc2", "zero", 2, 196, 186),
               config("single-nproc1", "single", 1, 120, 116)});
  const ReportData data = group_runs(runs);
  EXPECT_EQ(read_execution_time(data),
            "ddp-nproc2 and zero-nproc2 are the fastest, equal within noise (24.6 s and 25.1 s, "
            "2.1% apart; repeats spread up to 5.2%); single-nproc1 takes 40.7 s, 1.7x longer.");
  // Two configurations only: both are equal, and nothing is called faster.
  const auto pair = runs_of(
      {config("ddp-nproc2", "ddp", 2, 200, 190), config("zero-nproc2", "zero", 2, 196, 186)});
  const std::string two = read_execution_time(group_runs(pair));
  EXPECT_EQ(two,
            "ddp-nproc2 and zero-nproc2 train in equal time within noise (24.6 s and 25.1 s, "
            "2.1% apart; repeats spread up to 5.2%).");
  EXPECT_EQ(two.find("faster"), std::string::npos);
}

TEST(ReadingsNoise, TimesBeyondTheSpreadSayFasterWithTheFactor) {
  const auto runs = runs_of(
      {config("ddp-nproc2", "ddp", 2, 200, 196), config("zero-nproc2", "zero", 2, 140, 138),
       config("single-nproc1", "single", 1, 120, 116), config("model-nproc2", "model", 2, 65, 63)});
  const ReportData data = group_runs(runs);
  EXPECT_EQ(read_execution_time(data),
            "ddp-nproc2 is the fastest configuration at 24.2 s, 1.4x faster than zero-nproc2 "
            "(34.5 s), beyond the 2.0% spread of their repeats; single-nproc1 takes 40.7 s, 1.7x "
            "longer; the slowest, model-nproc2, takes 75.0 s, 3.1x longer; model-nproc2 idles 52% "
            "of each step in its pipeline bubble.");
  // A stage imbalance is named from the stages' own busy times.
  auto skewed = runs;
  for (auto& r : skewed)
    if (r.label == "model-nproc2") r.summary["strategy_details"]["ranks"][1]["busy_s"] = 1.6 * 1.8;
  const std::string s = read_execution_time(group_runs(skewed));
  EXPECT_NE(s.find("in model-nproc2 the busiest stage works"), std::string::npos) << s;
  EXPECT_NE(s.find("(a stage imbalance)"), std::string::npos) << s;
  // One run each: the factor stands, with the caveat that no spread was measured.
  std::vector<RunRecord> once;
  for (const RunRecord& r : runs)
    if (r.repeat == 0 && (r.label == "ddp-nproc2" || r.label == "zero-nproc2")) once.push_back(r);
  EXPECT_EQ(read_execution_time(group_runs(once)),
            "ddp-nproc2 is the fastest configuration at 24.0 s, 1.4x faster than zero-nproc2 "
            "(34.3 s), one run each, so the noise is not measured.");
}

TEST(ReadingsAccuracy, BatchNormImagesNamedAsTheCause) {
  // Same global batch (120): ddp over 2 ranks normalises over each rank's 60 images.
  const auto ddp = runs_of({config("single-nproc1", "single", 1, 120, 116),
                            config("ddp-nproc2", "ddp", 2, 200, 196, -0.06)});
  EXPECT_EQ(read_curves_by_epoch(group_runs(ddp)),
            "after 4 epochs, test accuracy ranges from 52.0% (ddp-nproc2) to 58.0% "
            "(single-nproc1) and train loss from 1.12 to 1.18: the 6.0-point gap is beyond the "
            "test set's ±4.4% (95% interval of a difference, 1000 images); BatchNorm normalises "
            "over 120 images in single-nproc1 (the whole batch) against 60 in ddp-nproc2 (a "
            "rank's share).");
  // A pipeline's BatchNorm sees one micro-batch: 10 of the 120 images.
  const auto pipe = runs_of({config("single-nproc1", "single", 1, 120, 116),
                             config("pipeline-split10", "pipeline", 2, 96, 92, 0.08, 10)});
  const std::string p = read_curves_by_epoch(group_runs(pipe));
  EXPECT_NE(p.find("the 8.0-point gap is beyond the test set's ±4.3% (95% interval of a "
                   "difference, 1000 images); BatchNorm normalises over 10 images in "
                   "pipeline-split10 (a micro-batch) against 120 in single-nproc1 (the whole "
                   "batch)."),
            std::string::npos)
      << p;
  EXPECT_EQ(p.find("learns most"), std::string::npos);
}

TEST(ReadingsAccuracy, GapWithinTheIntervalIsEqual) {
  const auto runs = runs_of({config("single-nproc1", "single", 1, 120, 116),
                             config("ddp-nproc2", "ddp", 2, 200, 196, -0.02)});
  const std::string s = read_curves_by_epoch(group_runs(runs));
  EXPECT_EQ(s,
            "after 4 epochs, test accuracy ranges from 56.0% (ddp-nproc2) to 58.0% "
            "(single-nproc1) and train loss from 1.12 to 1.14: per epoch, the configurations are "
            "equal within the test set's ±4.3% (95% interval of a difference, 1000 images).");
  EXPECT_EQ(s.find("BatchNorm"), std::string::npos);
  EXPECT_EQ(s.find("learns most"), std::string::npos);
}

// Two runs' accuracies each carry the test set's binomial noise: their difference's 95% interval
// (Newcombe's, from each one's Wilson interval) is about sqrt(2) wider than one accuracy's. Where
// the configurations ran repeats, their spread counts where it is wider.
TEST(ReadingsAccuracy, TwoRunsDifferOnlyBeyondTheTwoProportionInterval) {
  ConfigGroup a, b;
  a.test_images = b.test_images = 1000;
  // 50% against 46%: each one's half-width is 3.1 points, the difference's 4.4.
  const AccuracyComparison close = compare_accuracy(0.50, 0.46, a, b);
  EXPECT_NEAR(close.interval, 0.04378, 2e-4);
  EXPECT_FALSE(close.differs);
  EXPECT_NEAR(compare_accuracy(0.46, 0.50, a, b).interval, close.interval, 1e-12);
  EXPECT_TRUE(compare_accuracy(0.50, 0.45, a, b).differs);
  // Repeats 45% and 55% of one configuration: 10 points apart, wider than the test set's 4.4.
  a.test_accuracy = stat_of({0.45, 0.55});
  b.test_accuracy = stat_of({0.44, 0.45});
  const AccuracyComparison repeated = compare_accuracy(0.50, 0.44, a, b);
  EXPECT_NEAR(repeated.interval, 0.10, 1e-12);
  EXPECT_FALSE(repeated.differs);
  EXPECT_NE(interval_text(repeated).find("repeats"), std::string::npos) << interval_text(repeated);
  // Repeats that agree closely leave the test set's interval in force.
  a.test_accuracy = stat_of({0.499, 0.501});
  EXPECT_NEAR(compare_accuracy(0.50, 0.46, a, b).interval, close.interval, 1e-12);
}

TEST(ReadingsAccuracy, NoCauseClaimedWhereNoMechanismDiffers) {
  // ddp on one rank normalises over the whole batch, as single does: a gap has no known cause.
  const auto same = runs_of({config("single-nproc1", "single", 1, 120, 116),
                             config("ddp-nproc1", "ddp", 1, 118, 114, 0.06)});
  const std::string s = read_curves_by_epoch(group_runs(same));
  EXPECT_NE(s.find("the 6.0-point gap is beyond the test set's ±4.3% (95% interval of a "
                   "difference, 1000 images); "
                   "the two share the global batch and BatchNorm's images, so no known "
                   "mechanism explains it."),
            std::string::npos)
      << s;
  // --sync-bn normalises over the global batch: the ranks' share is no cause then either.
  auto synced = runs_of({config("single-nproc1", "single", 1, 120, 116),
                         config("ddp-syncbn", "ddp", 2, 200, 196, -0.06)});
  for (auto& r : synced)
    if (r.label == "ddp-syncbn") r.config["sync_bn"] = true;
  EXPECT_NE(read_curves_by_epoch(group_runs(synced)).find("no known mechanism"), std::string::npos);
  // A different global batch is named.
  auto batches = same;
  for (auto& r : batches)
    if (r.label == "ddp-nproc1") r.config["batch_size"] = 240;
  const std::string b = read_curves_by_epoch(group_runs(batches));
  EXPECT_NE(b.find("ddp-nproc1 trains a global batch of 240 images against 120 in single-nproc1 "
                   "and BatchNorm normalises over 240 images in ddp-nproc1 (the whole batch) "
                   "against 120 in single-nproc1 (the whole batch)."),
            std::string::npos)
      << b;
}

TEST(ReadingsHeadline, NamesTheFirstChartsFastestAndTheOtherMeasure) {
  // The case: zero has the higher median-step img/s, ddp the shorter training time.
  auto runs =
      runs_of({config("ddp-nproc2", "ddp", 2, 200, 196), config("zero-nproc2", "zero", 2, 215, 213),
               config("single-nproc1", "single", 1, 120, 116)});
  for (auto& r : runs)
    if (r.label == "zero-nproc2") r.summary["train_time_s"] = r.repeat == 0 ? 26.0 : 26.4;
  const ReportData data = group_runs(runs);
  const std::string chart = read_execution_time(data), headline = read_verdict(data);
  EXPECT_EQ(name_before(chart, " is the fastest configuration"), "ddp-nproc2") << chart;
  EXPECT_EQ(name_before(headline, " at ").substr(std::string("Fastest by training time: ").size()),
            "ddp-nproc2")
      << headline;
  EXPECT_EQ(headline,
            "Fastest by training time: ddp-nproc2 at 24.2 s (198.0 img/s), 1.7x faster than "
            "single-nproc1; by median-step img/s, zero-nproc2 leads (214.0 vs 198.0 img/s); first "
            "to 50% test accuracy: zero-nproc2 (16.8 s).");
}

TEST(ReadingsHeadline, TopTwoEqualWithinNoiseInBoth) {
  const auto runs =
      runs_of({config("ddp-nproc2", "ddp", 2, 200, 190), config("zero-nproc2", "zero", 2, 196, 186),
               config("single-nproc1", "single", 1, 120, 116)});
  const ReportData data = group_runs(runs);
  const std::string chart = read_execution_time(data), headline = read_verdict(data);
  EXPECT_EQ(name_before(chart, " are the fastest, equal within noise"),
            "ddp-nproc2 and zero-nproc2");
  EXPECT_EQ(headline,
            "Fastest by training time, equal within noise: ddp-nproc2 (24.6 s) and zero-nproc2 "
            "(25.1 s); first to 50% test accuracy, equal within noise: ddp-nproc2 (18.5 s) and "
            "zero-nproc2 (18.9 s).");
}

TEST(ReadingsHeadline, AgreesWithTheFirstChartOnTheFixture) {
  const auto runs = testing::fixture_runs();
  const ReportData data = group_runs(runs);
  const std::string chart = read_execution_time(data), headline = read_verdict(data);
  const std::string fastest = name_before(chart, " is the fastest configuration");
  ASSERT_EQ(fastest, "ddp 2 ranks") << chart;
  EXPECT_EQ(headline.rfind("Fastest by training time: " + fastest + " at 24.0 s", 0), 0u)
      << headline;
}

}  // namespace
}  // namespace parallax
