// The pipeline schedules side by side at one micro-batch count: measured bubble, its closed-form
// theory, the theory from the run's profiled times, and peak activation memory.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "report/chart_parts.h"
#include "report/charts.h"
#include "report/readings.h"

namespace parallax {
namespace {

const std::vector<std::string>& schedule_order() {
  static const std::vector<std::string> order{"model", "gpipe", "1f1b", "interleaved-1f1b",
                                              "zb-h1", "zb-h2", "zb-v"};
  return order;
}

// The micro-batch count most schedules ran at (the larger on a tie), and per schedule its
// fastest configuration there, in schedule order.
std::vector<const ConfigGroup*> schedules_at_common_m(const ReportData& data, double* m_out) {
  const std::string sweep = data.sweep_workload();
  std::map<double, std::map<std::string, const ConfigGroup*>> by_m;
  for (const ConfigGroup* g : data.finished())
    if (g->strategy == "pipeline" && g->micro_batches && g->bubble_fraction.present() &&
        g->workload == sweep && !g->schedule.empty()) {
      auto& slot = by_m[*g->micro_batches][g->schedule];
      if (!slot || g->images_per_sec.mean > slot->images_per_sec.mean) slot = g;
    }
  const std::map<std::string, const ConfigGroup*>* best = nullptr;
  for (const auto& [m, schedules] : by_m)
    if (!best || schedules.size() >= best->size()) {
      best = &schedules;
      *m_out = m;
    }
  std::vector<const ConfigGroup*> rows;
  if (!best || best->size() < 2) return rows;
  for (const auto& name : schedule_order())
    if (auto it = best->find(name); it != best->end()) rows.push_back(it->second);
  for (const auto& [name, g] : *best)
    if (std::find(schedule_order().begin(), schedule_order().end(), name) ==
        schedule_order().end())
      rows.push_back(g);
  return rows;
}

}  // namespace

std::string read_schedules(const ReportData& data) {
  double m = 0;
  const auto rows = schedules_at_common_m(data, &m);
  if (rows.empty()) return "";
  const ConfigGroup* least = rows.front();
  const ConfigGroup* one_f = nullptr;
  for (const ConfigGroup* g : rows) {
    if (g->bubble_fraction.mean < least->bubble_fraction.mean) least = g;
    if (g->schedule == "1f1b") one_f = g;
  }
  std::string s = "at M = " + format_count(m) + ", " + least->schedule + " idles least: " +
                  format_sig(100 * least->bubble_fraction.mean) + "% of its step";
  if (least->bubble_fraction_profiled.present())
    s += " (" + format_sig(100 * least->bubble_fraction_profiled.mean) +
         "% from its profiled times)";
  if (one_f && one_f != least && one_f->bubble_fraction.mean > 0)
    s += ", " + format_ratio(least->bubble_fraction.mean / one_f->bubble_fraction.mean) +
         " 1f1b's " + format_sig(100 * one_f->bubble_fraction.mean) + "%";
  if (one_f && one_f != least && least->peak_activation_bytes.present() &&
      one_f->peak_activation_bytes.present() && one_f->peak_activation_bytes.mean > 0)
    s += ", holding " +
         format_ratio(least->peak_activation_bytes.mean / one_f->peak_activation_bytes.mean) +
         " its peak activations";
  return s + ".";
}

ChartSpec schedules_chart(const ReportData& data) {
  const std::string id = "schedules", title = "Pipeline schedules: bubble and activation memory";
  double m = 0;
  const auto rows = schedules_at_common_m(data, &m);
  if (rows.empty())
    return missing_chart(id, title,
                         "Pipeline runs of two or more --pipeline-schedule values at one "
                         "micro-batch count fill this chart (bench/pipeline.sh's schedules "
                         "part, or a suite over pipeline_schedule).");
  ChartSpec c = missing_chart(id, title, "");
  c.reading = read_schedules(data);
  c.note =
      "One group of bars per schedule at M = " + format_count(m) +
      " micro-batches (its fastest configuration there): the measured bubble (per rank, idle "
      "over the slowest rank's pass, averaged), the schedule's closed-form theory (equal F, I "
      "and W times, a step that ends with a sync), and the theory from the run's own profiled "
      "F, B, I, W times played out by the schedule simulator with free transfers (the "
      "zero-bubble paper's method); the points are the larger rank's peak activation memory "
      "from the allocator.";
  std::ostringstream d, b;
  d << "# schedule bubble_measured theory profiled activation_mib\n";
  double top_mib = 0;
  for (const ConfigGroup* g : rows) {
    auto pct = [](const Stat& s) { return s.present() ? 100 * s.mean : NAN; };
    const double mib = g->peak_activation_bytes.present() ? g->peak_activation_bytes.mean / 1048576
                                                          : NAN;
    if (!std::isnan(mib)) top_mib = std::max(top_mib, mib);
    d << gnuplot_field(g->schedule) << " " << num(pct(g->bubble_fraction)) << " "
      << num(pct(g->bubble_fraction_theory)) << " " << num(pct(g->bubble_fraction_profiled))
      << " " << num(mib) << "\n";
  }
  double top = 0;
  for (const ConfigGroup* g : rows)
    for (const Stat* s : {&g->bubble_fraction, &g->bubble_fraction_theory,
                          &g->bubble_fraction_profiled})
      if (s->present()) top = std::max(top, 100 * s->mean);
  b << "set title " << gnuplot_string(title + " at M = " + format_count(m)) << "\n"
    << "set style data histograms\nset style histogram clustered gap 1\n"
    << "set style fill solid 0.8 border -1\nset boxwidth 0.9\n"
    << "set ylabel \"bubble (% of step)\"\nset yrange [0:" << num(1.4 * std::max(top, 1.0))
    << "]\nset ytics nomirror\n"
    << "set y2label \"peak activations (MiB)\"\nset y2range [0:" << num(1.4 * std::max(top_mib, 1.0))
    << "]\nset y2tics\nset xtics rotate by -20\n"
    << "set key top left box opaque font \",9\"\n"
    << "plot '" << id << ".dat' using 2:xtic(1) title \"measured bubble\", \\\n"
    << "     '' using 3 title \"theory (F = I = W)\", \\\n"
    << "     '' using 4 title \"theory from profiled times\", \\\n"
    << "     '' using 0:5 axes x1y2 with linespoints lc rgb \"black\" pt 7 "
    << "title \"peak activations, right axis\"\n";
  c.plot.data = d.str();
  c.plot.body = b.str();
  return c;
}

}  // namespace parallax
