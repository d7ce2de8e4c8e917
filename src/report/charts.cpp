// Charts of time: training time, split size, epoch time, time to target, learning curves.
#include "report/charts.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "report/chart_parts.h"
#include "report/readings.h"

namespace parallax {

ChartSpec execution_time_chart(const ReportData& data) {
  const std::string id = "execution_time", title = "Training time per configuration";
  std::vector<BarRow> rows;
  for (const ConfigGroup* g : data.finished())
    if (g->train_time_s.present())
      rows.push_back({g->label, g->train_time_s, format_sig(g->train_time_s.mean) + " s"});
  return bar_chart(id, title, "training time (s)", rows, "Any finished run fills this chart.",
                   read_execution_time(data),
                   "Training time is summary.json's train_time_s (evaluation excluded); bars are "
                   "the mean over a configuration's finished repeats, whiskers the fastest and "
                   "slowest.");
}

namespace {

// Finished pipeline runs by schedule, each group sorted by micro-batch size in split_size_data.
using PipelinesBySchedule = std::map<std::string, std::vector<const ConfigGroup*>>;

PipelinesBySchedule pipelines_by_schedule(const ReportData& data, const std::string& sweep) {
  PipelinesBySchedule by_schedule;
  for (const ConfigGroup* g : data.finished())
    if (g->strategy == "pipeline" && g->micro_batch_size && g->train_time_s.present() &&
        g->workload == sweep)
      by_schedule[g->schedule.empty() ? "pipeline" : g->schedule].push_back(g);
  return by_schedule;
}

// One data block per schedule, by micro-batch size; each size also goes into `ticks`.
std::string split_size_data(PipelinesBySchedule& by_schedule, std::vector<double>& ticks) {
  std::ostringstream d;
  d << "# micro_batch_size train_time_mean min max bubble_measured bubble_theory label\n";
  for (auto& [schedule, groups] : by_schedule) {
    std::sort(groups.begin(), groups.end(), [](const ConfigGroup* x, const ConfigGroup* y) {
      return *x->micro_batch_size < *y->micro_batch_size;
    });
    d << "# schedule " << schedule << "\n";
    for (const ConfigGroup* g : groups) {
      const double measured = g->bubble_fraction.present() ? g->bubble_fraction.mean : NAN;
      const double theory =
          g->bubble_fraction_theory.present() ? g->bubble_fraction_theory.mean : NAN;
      d << num(*g->micro_batch_size) << " " << num(g->train_time_s.mean) << " "
        << num(g->train_time_s.min) << " " << num(g->train_time_s.max) << " " << num(100 * measured)
        << " " << num(100 * theory) << " " << gnuplot_field(g->label) << "\n";
      ticks.push_back(*g->micro_batch_size);
    }
    d << "\n\n";
  }
  return d.str();
}

// The highest time drawn: the slowest run, or the naive model-parallel line.
double split_size_top(const PipelinesBySchedule& by_schedule, const ConfigGroup* model) {
  double top = model ? model->train_time_s.mean : 0;
  for (const auto& entry : by_schedule)
    for (const ConfigGroup* g : entry.second) top = std::max(top, g->train_time_s.max);
  return top;
}

// Titles, both axes' ranges, and a log-2 x axis ticked at the sizes run (sorted, each once).
void write_split_size_axes(std::ostream& b, const std::string& title, double top,
                           const std::vector<double>& ticks) {
  b << "set title " << gnuplot_string(title + " (micro-batch size)") << "\n"
    << "set xlabel \"micro-batch size (images per micro-batch)\"\n"
    << "set ylabel \"training time (s)\"\n"
    << "set y2label \"pipeline bubble (% of step)\"\n"
    // Headroom above the highest time (and the naive line) keeps the key off the data.
    << "set yrange [0:" << num(1.5 * top) << "]\nset y2range [0:100]\nset y2tics\n"
    << "set ytics nomirror\n"
    << "set logscale x 2\n"
    << "set xrange [" << num(ticks.front() / 1.5) << ":" << num(ticks.back() * 1.5) << "]\n"
    << "set xtics (";
  for (size_t i = 0; i < ticks.size(); ++i) b << (i ? ", " : "") << num(ticks[i]);
  b << ")\nset key top left box opaque font \",9\"\n";
}

// Per schedule: its times on the left axis, its measured and theoretical bubbles on the right;
// then the naive model-parallel time as a flat line, where there is one.
void write_split_size_lines(std::ostream& b, const std::string& id,
                            const PipelinesBySchedule& by_schedule, const ConfigGroup* model) {
  b << "plot ";
  int index = 0;
  const bool several = by_schedule.size() > 1;
  for (const auto& entry : by_schedule) {
    const std::string sched = several ? " (" + entry.first + ")" : "";
    const std::string lt = std::to_string(1 + index * 3);
    b << (index ? ", \\\n     " : "") << "'" << id << ".dat' index " << index
      << " using 1:2:3:4 with yerrorlines lt " << lt << " title "
      << gnuplot_string("training time, left axis" + sched) << ", \\\n"
      << "     '' index " << index << " using 1:5 axes x1y2 with linespoints lt 2 dt 3 title "
      << gnuplot_string("measured bubble, right axis" + sched) << ", \\\n"
      << "     '' index " << index << " using 1:6 axes x1y2 with linespoints lt 3 dt 2 title "
      << gnuplot_string("theoretical bubble, right axis" + sched);
    ++index;
  }
  if (model)
    b << ", \\\n     " << num(model->train_time_s.mean) << " with lines lc rgb \"black\" dt 4 "
      << "title "
      << gnuplot_string("naive model parallel: " + format_sig(model->train_time_s.mean) + " s");
  b << "\n";
}

}  // namespace

ChartSpec split_size_chart(const ReportData& data) {
  const std::string id = "split_size", title = "Training time vs pipeline split size";
  const std::string sweep = data.sweep_workload();  // one workload: times compare only there
  PipelinesBySchedule by_schedule = pipelines_by_schedule(data, sweep);
  if (by_schedule.empty())
    return missing_chart(id, title,
                         "Pipeline runs at several --split-size values (plus a --strategy model "
                         "run as the reference) fill this chart.");
  ChartSpec c = missing_chart(id, title, "");
  c.reading = read_split_size(data);
  c.note =
      "x is the micro-batch size (--split-size), one line per schedule; the theoretical bubble "
      "is each schedule's own formula ((P-1)/(M+P-1) for GPipe and 1F1B with P stages and M "
      "micro-batches), the measured one is the idle share of a step averaged over stages "
      "(summary bubble_fraction).";
  std::vector<double> ticks;
  c.plot.data = split_size_data(by_schedule, ticks);
  const ConfigGroup* model = data.first_of("model", 0, sweep);
  if (model && !model->train_time_s.present()) model = nullptr;
  std::sort(ticks.begin(), ticks.end());
  ticks.erase(std::unique(ticks.begin(), ticks.end()), ticks.end());
  std::ostringstream b;
  write_split_size_axes(b, title, split_size_top(by_schedule, model), ticks);
  write_split_size_lines(b, id, by_schedule, model);
  c.plot.body = b.str();
  return c;
}

ChartSpec epoch_time_chart(const ReportData& data) {
  const std::string id = "epoch_time", title = "Mean epoch time per configuration";
  std::vector<BarRow> rows;
  for (const ConfigGroup* g : data.finished())
    if (g->mean_epoch_time_s.present())
      rows.push_back(
          {g->label, g->mean_epoch_time_s, format_sig(g->mean_epoch_time_s.mean) + " s"});
  return bar_chart(id, title, "seconds per epoch", rows,
                   "Finished runs with at least one epoch fill this chart.", read_epoch_time(data),
                   "Mean epoch time is summary.json's mean_epoch_time_s: training seconds per "
                   "epoch, evaluation excluded.");
}

ChartSpec time_to_target_chart(const ReportData& data) {
  const bool lm = data.language_models();
  const std::string id = "time_to_target",
                    title = lm ? "Time to target validation loss per configuration"
                               : "Time to target accuracy per configuration";
  const std::string option = lm ? "--target-loss" : "--target-accuracy";
  std::vector<BarRow> rows;
  for (const ConfigGroup* g : data.finished())
    if (g->time_to_target_s.present())
      rows.push_back({g->label + " (" + format_count(g->epochs_to_target.mean) + " ep)",
                      g->time_to_target_s, format_sig(g->time_to_target_s.mean) + " s"});
  return bar_chart(id, title, "training time to target (s)", rows,
                   "Runs trained with " + option + " that reach it fill this chart.",
                   read_time_to_target(data),
                   "Time to target is the training time until the first evaluation " +
                       std::string(lm ? "at or below " : "at or above ") + option +
                       " (time_to_target_s); the axis labels give the epochs it took. Only "
                       "repeats that reached the target count.");
}

ChartSpec curves_chart(const ReportData& data, bool by_time) {
  const std::string id = by_time ? "curves_time" : "curves_epoch";
  // Language models: the validation loss (nats per token) where a classifier has its accuracy.
  const bool lm = data.language_models();
  const std::string metric = lm ? "validation loss" : "test accuracy";
  const std::string title = (lm ? "Training and validation loss vs " : "Loss and test accuracy vs ") +
                            std::string(by_time ? "training time" : "epoch");
  std::vector<const ConfigGroup*> groups;
  for (const ConfigGroup* g : data.finished())
    if (!g->first()->epochs.empty()) groups.push_back(g);
  if (groups.empty())
    return missing_chart(id, title, "Finished runs with epochs.csv rows fill this chart.");
  ChartSpec c = missing_chart(id, title, "");
  c.reading = by_time ? read_curves_by_time(data) : read_curves_by_epoch(data);
  c.note = "One line per configuration, from its first finished repeat; x is " +
           std::string(by_time ? "training seconds at the end of each epoch (elapsed_train_s, "
                                 "evaluation excluded)."
                               : "the epoch number.");
  std::ostringstream d, b;
  d << "# x train_loss " << (lm ? "validation_loss" : "test_accuracy_percent")
    << "  (x: " << (by_time ? "seconds" : "epoch") << ")\n";
  for (const ConfigGroup* g : groups) {
    d << "# " << g->label << "\n";
    for (const EpochRow& e : g->first()->epochs)
      d << num(by_time ? e.elapsed_train_s : e.epoch + 1) << " " << num(e.train_loss) << " "
        << num(lm ? e.test_loss : 100 * e.test_accuracy) << "\n";
    d << "\n\n";
  }
  const std::string xlabel = by_time ? "training time (s)" : "epoch";
  auto panel = [&](int column, const std::string& ylabel, const std::string& key) {
    b << "set xlabel " << gnuplot_string(xlabel) << "\nset ylabel " << gnuplot_string(ylabel)
      << "\n"
      << key << "\nplot ";
    for (size_t i = 0; i < groups.size(); ++i)
      b << (i ? ", \\\n     " : "") << "'" << id << ".dat' index " << i << " using 1:" << column
        << " with linespoints lt " << i + 1 << " title " << gnuplot_string(groups[i]->label);
    b << "\n";
  };
  // The panels leave the right of the 900-pixel canvas to one key shared by both, as wide as
  // the longest configuration name (about 7.2 pixels a character at 9 points, plus the sample
  // line): whole names, never cut at the canvas's edge.
  size_t longest = 0;
  for (const ConfigGroup* g : groups) longest = std::max(longest, g->label.size());
  const double key = std::min(0.5, std::max(0.23, (7.2 * longest + 60) / 900));
  b << "set multiplot layout 1,2 title " << gnuplot_string(title) << " margins 0.07,"
    << num(0.98 - key) << ",0.12,0.9 spacing 0.08\n";
  if (!by_time) b << "set xtics 1\n";
  b << "set key at screen " << num(1 - key) << ",0.9 left top vertical Left reverse font \",9\"\n";
  panel(2, "train loss", "");
  b << "set yrange [0:*]\n";
  panel(3, lm ? "validation loss (nats/token)" : "test accuracy (%)", "unset key");
  b << "unset multiplot\n";
  c.plot.data = d.str();
  c.plot.body = b.str();
  return c;
}

std::vector<ChartSpec> build_charts(const ReportData& data) {
  return {execution_time_chart(data), split_size_chart(data),    epoch_time_chart(data),
          time_to_target_chart(data), curves_chart(data, false), curves_chart(data, true),
          scaling_chart(data),        breakdown_chart(data),     memory_chart(data),
          mfu_chart(data),
          schedules_chart(data),      plan_chart(data)};
}

}  // namespace parallax
