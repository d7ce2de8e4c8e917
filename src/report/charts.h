// Charts: each figure as data + gnuplot commands with its reading, or why it is not drawn.
#pragma once
#include <string>
#include <vector>

#include "report/gnuplot.h"
#include "report/report_data.h"

namespace parallax {

struct ChartSpec {
  std::string id;  // file stem under charts/ and the page anchor
  std::string title;
  std::string reading;  // one sentence with numbers; "" when not drawn
  std::string missing;  // when not drawn: which runs would fill it
  std::string note;     // how the plotted figures are derived, when that is not obvious
  std::vector<std::string> details;  // further readings, one per configuration (may be empty)
  GnuplotChart plot;    // body "" when not drawn
  bool drawn() const { return !plot.body.empty(); }
};

// Every chart of the report, in page order (drawn or not).
std::vector<ChartSpec> build_charts(const ReportData& data);

// The builders, one per chart (exposed for tests).
ChartSpec execution_time_chart(const ReportData& data);
ChartSpec split_size_chart(const ReportData& data);
ChartSpec epoch_time_chart(const ReportData& data);
ChartSpec time_to_target_chart(const ReportData& data);
ChartSpec curves_chart(const ReportData& data, bool by_time);
ChartSpec scaling_chart(const ReportData& data);
ChartSpec breakdown_chart(const ReportData& data);
ChartSpec memory_chart(const ReportData& data);
ChartSpec mfu_chart(const ReportData& data);  // report/resource_charts.cpp
ChartSpec schedules_chart(const ReportData& data);
ChartSpec plan_chart(const ReportData& data);  // report/plan_chart.cpp

}  // namespace parallax
