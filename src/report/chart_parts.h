// Chart parts: building blocks the chart builders share (numbers in data files, bar charts).
#pragma once
#include <string>
#include <vector>

#include "report/charts.h"
#include "report/report_data.h"

namespace parallax {

// A number as a data file holds it; NaN (gnuplot's missing value here) when not finite.
std::string num(double v);

// One bar: a configuration's mean with min-max whiskers, and the text printed above it.
struct BarRow {
  std::string label;
  Stat stat;
  std::string top;
};
std::string bar_chart_data(const std::vector<BarRow>& rows);
std::string bar_chart_body(const std::string& name, const std::string& title,
                           const std::string& ylabel, size_t bars);

// A bar chart of rows with its reading and note; with no rows, the missing chart instead.
ChartSpec bar_chart(const std::string& id, const std::string& title, const std::string& ylabel,
                    const std::vector<BarRow>& rows, const std::string& missing,
                    const std::string& reading, const std::string& note);

// A chart that is not drawn, with the line that says which runs would fill it.
ChartSpec missing_chart(const std::string& id, const std::string& title,
                        const std::string& missing);

}  // namespace parallax
