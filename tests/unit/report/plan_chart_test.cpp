// The report's plan chart: drawn from a checked plan.json, with its reading in numbers; missing
// (saying how to fill it) without one.
#include <gtest/gtest.h>

#include "report/charts.h"

namespace parallax {
namespace {

TEST(PlanChart, ReadsTheCheckedRowsErrors) {
  ReportData data;
  EXPECT_FALSE(plan_chart(data).drawn());
  EXPECT_NE(plan_chart(data).missing.find("plan --check"), std::string::npos);
  data.plan = nlohmann::json::parse(R"({"rows": [
      {"label": "ddp", "predicted_step_s": 0.100, "measured_step_s": 0.110},
      {"label": "zero-1", "predicted_step_s": 0.120, "measured_step_s": 0.100},
      {"label": "single", "predicted_step_s": 0.300}]})");
  const ChartSpec c = plan_chart(data);
  ASSERT_TRUE(c.drawn());
  // Errors 9.09% and 20%: median 14.5%, worst 20%; zero-1 measured fastest, ddp ranked first.
  EXPECT_NE(c.reading.find("median step-time error is 14.5%"), std::string::npos) << c.reading;
  EXPECT_NE(c.reading.find("worst 20.0%"), std::string::npos) << c.reading;
  EXPECT_NE(c.reading.find("measured fastest is zero-1"), std::string::npos) << c.reading;
  EXPECT_NE(c.reading.find("first choice, ddp, measured 110 ms (10.0% slower)"), std::string::npos)
      << c.reading;
  EXPECT_NE(c.plot.data.find("\"ddp\" 100 110"), std::string::npos) << c.plot.data;
}

}  // namespace
}  // namespace parallax
