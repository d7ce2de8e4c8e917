// Predicted against measured: a checked plan's rows (`parallax plan --check`), each candidate's
// predicted step time against the best round it measured, with the y = x line and a +-5% band.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "metrics/percentiles.h"
#include "report/chart_parts.h"
#include "report/charts.h"
#include "report/readings.h"

namespace parallax {

ChartSpec plan_chart(const ReportData& data) {
  const std::string id = "plan", title = "Plan: predicted against measured step time";
  struct Point {
    std::string label;
    double predicted, measured;
  };
  std::vector<Point> points;
  if (data.plan.is_object() && data.plan.contains("rows"))
    for (const auto& r : data.plan["rows"])
      if (r.contains("measured_step_s") && r["measured_step_s"].get<double>() > 0)
        points.push_back({r.value("label", std::string()),
                          1e3 * r.value("predicted_step_s", 0.0),
                          1e3 * r["measured_step_s"].get<double>()});
  if (points.empty())
    return missing_chart(id, title,
                         "`parallax plan --check K|all --out RUNS` fills this chart: its "
                         "predictions, each beside the run that checked it.");
  std::vector<double> errors;
  const Point* fastest = &points.front();
  for (const auto& p : points) {
    errors.push_back(std::abs(p.predicted - p.measured) / p.measured);
    if (p.measured < fastest->measured) fastest = &p;
  }
  const size_t n = errors.size();
  const double median = percentile(errors, 0.5);
  const double worst = *std::max_element(errors.begin(), errors.end());
  const std::string first = data.plan["rows"][0].value("label", std::string());
  const Point* ranked = nullptr;
  for (const auto& p : points)
    if (p.label == first) ranked = &p;
  ChartSpec c = missing_chart(id, title, "");
  std::string reading = "Over " + format_count(static_cast<double>(n)) +
                        " checked candidates the median step-time error is " +
                        format_sig(100 * median) + "% and the worst " +
                        format_sig(100 * worst) + "%; the measured fastest is " +
                        fastest->label + " (" + format_sig(fastest->measured) + " ms)";
  if (ranked && ranked != fastest)
    reading += ", and the plan's first choice, " + first + ", measured " +
               format_sig(ranked->measured) + " ms (" +
               format_sig(100 * (ranked->measured / fastest->measured - 1)) + "% slower)";
  else if (ranked)
    reading += ", the plan's first choice";
  c.reading = reading + ".";
  c.note = "Each point is one candidate of the plan in RUNS/plan.json: its predicted step time "
           "(cost model over the profile) against the median step of its best --check round. "
           "Points inside the band are within 5% (named are those outside it and the plan's first "
           "choice); above the line the plan was pessimistic.";
  std::ostringstream d, b;
  // Names on the points outside the band and on the first choice only: a crowd of names inside
  // the band reads as nothing.
  d << "# label predicted_ms measured_ms name_shown\n";
  double top = 0;
  for (const auto& p : points) {
    const bool named = std::abs(p.predicted - p.measured) > 0.05 * p.measured || p.label == first;
    d << gnuplot_field(p.label) << " " << num(p.predicted) << " " << num(p.measured) << " "
      << gnuplot_field(named ? p.label : "") << "\n";
    top = std::max({top, p.predicted, p.measured});
  }
  top *= 1.1;
  b << "set title " << gnuplot_string(title) << "\n"
    << "set xlabel \"measured step (ms)\"\nset ylabel \"predicted step (ms)\"\n"
    << "set xrange [0:" << num(top) << "]\nset yrange [0:" << num(top) << "]\n"
    << "set key top left box opaque font \",9\"\nset grid\n"
    << "plot x * 1.05 with lines dt 2 lc rgb \"gray\" title \"+5%\", \\\n"
    << "     x * 0.95 with lines dt 2 lc rgb \"gray\" title \"-5%\", \\\n"
    << "     x with lines lc rgb \"black\" title \"predicted = measured\", \\\n"
    << "     '" << id << ".dat' using 3:2 with points pt 7 ps 1.2 title \"candidates\", \\\n"
    << "     '' using 3:2:4 with labels font \",7\" offset 0.8,0.6 left notitle\n";
  c.plot.data = d.str();
  c.plot.body = b.str();
  return c;
}

}  // namespace parallax
