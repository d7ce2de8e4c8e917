// The breakdown chart's reading per strategy, from the measured figures: the collectives' flight
// hidden under backward and the bucket waited for, the bubble against its theory, compute's share.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "report/charts.h"
#include "report/html_report.h"
#include "report/readings.h"
#include "report/report_data.h"
#include "unit/report/fixture_runs.h"

namespace parallax {
namespace {

const std::string* starting(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const auto& l : lines)
    if (l.rfind(prefix, 0) == 0) return &l;
  return nullptr;
}

TEST(ReadingsStep, OnePerStrategyFromTheMeasuredFigures) {
  const auto runs = testing::fixture_runs();
  const ReportData data = group_runs(runs);
  const auto lines = read_step_by_strategy(data);
  // single, ddp, zero-1, model, pipeline: one each, ddp at 2 ranks (its largest world).
  ASSERT_EQ(lines.size(), 5u);

  // ddp: busy 0.45 of a step, exposed 0.12 (the buckets' mean over the repeats: 0.12 x 0.600 s
  // = 72.0 ms), 80% of it on the last bucket.
  const std::string* ddp = starting(lines, "ddp 2 ranks: ");
  ASSERT_NE(ddp, nullptr);
  EXPECT_NE(ddp->find("73% of the 270 ms of gradient all-reduce in flight per step is hidden "
                      "under backward; 72.0 ms is exposed after backward"),
            std::string::npos)
      << *ddp;
  EXPECT_NE(ddp->find("80% of it waiting for the last bucket (1.00 MiB, 72.0 ms in flight)"),
            std::string::npos)
      << *ddp;

  // zero: a reduce-scatter, and the all-gather the next forward waits for.
  const std::string* zero = starting(lines, "zero-1 2 ranks: ");
  ASSERT_NE(zero, nullptr);
  EXPECT_NE(zero->find("of gradient reduce-scatter in flight"), std::string::npos) << *zero;
  EXPECT_NE(zero->find("the next forward waits"), std::string::npos) << *zero;
  EXPECT_NE(zero->find("for the parameters' all-gathers"), std::string::npos) << *zero;

  // The fastest pipeline (split size 20: 6 micro-batches): 22% measured, 14% in theory.
  const std::string* pipe = starting(lines, "pipeline split-size 20: 6 micro-batches, ");
  ASSERT_NE(pipe, nullptr);
  EXPECT_NE(pipe->find("is 22% of the"), std::string::npos) << *pipe;
  EXPECT_NE(pipe->find("14% in theory (2 stages)"), std::string::npos) << *pipe;

  const std::string* single = starting(lines, "single: compute is 97% of the ");
  ASSERT_NE(single, nullptr);
  EXPECT_NE(single->find("no communication, no bubble"), std::string::npos) << *single;
}

// A straggler in summary.json (metrics/stragglers.h) is read where every repeat found the same
// rank slow, never from one repeat alone.
TEST(ReadingsStep, AStragglerFoundInEveryRepeatIsRead) {
  auto runs = testing::fixture_runs();
  const std::string slow =
      "rank 1 works 1.6x the median rank's time per step; the others wait for it 31% of the step";
  auto plant = [&](int repeats) {
    int planted = 0;
    for (auto& r : runs)
      if (r.config.value("strategy", "") == "ddp" && r.config.value("nproc", 0) == 2 &&
          planted < repeats) {
        r.summary["straggler"] = {{"rank", 1}, {"reading", slow}};
        ++planted;
      }
  };
  plant(1);
  const std::string* one = starting(read_step_by_strategy(group_runs(runs)), "ddp 2 ranks: ");
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->find("rank 1 works"), std::string::npos) << *one;  // one repeat of two
  plant(2);
  const auto lines = read_step_by_strategy(group_runs(runs));
  const std::string* both = starting(lines, "ddp 2 ranks: ");
  ASSERT_NE(both, nullptr);
  EXPECT_NE(both->find("; " + slow + "."), std::string::npos) << *both;
}

TEST(ReadingsStep, TheBreakdownChartListsThemOnThePage) {
  const auto runs = testing::fixture_runs();
  const ReportData data = group_runs(runs);
  const ChartSpec chart = breakdown_chart(data);
  ASSERT_EQ(chart.details, read_step_by_strategy(data));
  const std::string page = render_html(HtmlPage{"t", "", {}}, runs, data, {chart});
  EXPECT_NE(page.find("<ul class=\"details\">\n<li>single: compute is"), std::string::npos);
  // Which data the runs used, and why a stand-in replaced the named one.
  EXPECT_NE(page.find("<p class=\"source\" id=\"data\">Data: synthetic (16 runs). Note: cifar10 "
                      "absent: synthetic stand-in of the same shape.</p>"),
            std::string::npos)
      << page.substr(0, 3000);
}

}  // namespace
}  // namespace parallax
