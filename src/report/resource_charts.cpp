// Charts of resources: scaling vs world size, where a step's time goes, memory per rank.
#include <algorithm>
#include <sstream>

#include "report/chart_parts.h"
#include "report/charts.h"
#include "report/readings.h"

namespace parallax {

ChartSpec scaling_chart(const ReportData& data) {
  const std::string id = "scaling", title = "Throughput and scaling efficiency vs world size";
  const auto points = scaling_points(data);
  if (points.empty())
    return missing_chart(id, title,
                         "Runs of a strategy at more than one rank plus a 1-rank baseline (its "
                         "own --nproc 1 run, or --strategy single) fill this chart.");
  ChartSpec c = missing_chart(id, title, "");
  c.reading = read_scaling(data);
  c.note =
      "Each point is a strategy's fastest configuration at that world size. Scaling "
      "efficiency = throughput(N) / (N x throughput at 1 rank), the 1-rank throughput being "
      "the strategy's own 1-rank run, else single's; the ideal is linear scaling.";
  std::vector<std::string> strategies;
  int max_world = 1;
  std::ostringstream d, b;
  d << "# world images_per_sec efficiency_percent configuration\n";
  for (size_t i = 0; i < points.size(); ++i) {
    const ScalingPoint& p = points[i];
    if (strategies.empty() || strategies.back() != p.strategy) {
      if (!strategies.empty()) d << "\n\n";
      strategies.push_back(p.strategy);
      d << "# " << p.strategy << " (1 rank: " << p.base->label << ")\n";
    }
    d << p.world << " " << num(p.images_per_sec) << " " << num(100 * p.efficiency) << " "
      << gnuplot_field(p.group->label) << "\n";
    max_world = std::max(max_world, p.world);
  }
  // The ideal line starts from single when there is one, else from the first strategy's base.
  const ConfigGroup* ideal = data.fastest_of("single", 1, points.front().group->workload);
  if (!ideal) ideal = points.front().base;
  b << "set multiplot layout 1,2 title " << gnuplot_string(title) << "\n"
    << "set xlabel \"world size (ranks)\"\n"
    << "set xrange [0.8:" << max_world + 0.2 << "]\n"
    << "set xtics 1\n"
    << "set yrange [0:*]\n"
    << "set key top left font \",9\"\n"
    << "set ylabel \"throughput (images/s)\"\n"
    << "plot ";
  for (size_t i = 0; i < strategies.size(); ++i)
    b << (i ? ", \\\n     " : "") << "'" << id << ".dat' index " << i
      << " using 1:2 with linespoints lt " << i + 1 << " title " << gnuplot_string(strategies[i]);
  b << ", \\\n     x * " << num(ideal->images_per_sec.mean)
    << " with lines lc rgb \"black\" dt 2 title " << gnuplot_string("ideal: N x " + ideal->label)
    << "\n"
    << "set ylabel \"scaling efficiency (%)\"\n"
    << "set yrange [0:110]\n"
    << "unset key\n"
    << "plot ";
  for (size_t i = 0; i < strategies.size(); ++i)
    b << (i ? ", \\\n     " : "") << "'" << id << ".dat' index " << i
      << " using 1:3 with linespoints lt " << i + 1 << " title " << gnuplot_string(strategies[i]);
  b << ", \\\n     100 with lines lc rgb \"black\" dt 2 title \"ideal\"\n"
    << "unset multiplot\n";
  c.plot.data = d.str();
  c.plot.body = b.str();
  return c;
}

ChartSpec breakdown_chart(const ReportData& data) {
  const std::string id = "breakdown", title = "Where a training step's time goes";
  std::vector<const ConfigGroup*> groups;
  for (const ConfigGroup* g : data.finished())
    if (g->step_time_s.present() && g->compute_per_step_s.present()) groups.push_back(g);
  if (groups.empty())
    return missing_chart(id, title,
                         "Finished runs whose summary has step_time_s, compute_s and comm_s fill "
                         "this chart.");
  ChartSpec c = missing_chart(id, title, "");
  c.reading = read_breakdown(data);
  c.details = read_step_by_strategy(data);
  c.note =
      "Per step, from summary.json after the timing warm-up: compute = compute_s / timed "
      "steps; communication exposed = comm_s / timed steps (the all-reduce or send/recv time "
      "that compute did not hide); bubble = bubble_fraction x median step time (pipelines); "
      "other = median step time minus the three (data loading, optimizer, waits), at least 0.";
  std::ostringstream d, b;
  d << "# configuration compute_s comm_exposed_s bubble_s other_s (per step, rank 0)\n";
  for (const ConfigGroup* g : groups) {
    const double compute = g->compute_per_step_s.mean;
    const double comm = g->comm_per_step_s.present() ? g->comm_per_step_s.mean : 0;
    const double bubble = g->bubble_per_step_s.present() ? g->bubble_per_step_s.mean : 0;
    const double other = std::max(0.0, g->step_time_s.mean - compute - comm - bubble);
    d << gnuplot_field(g->label) << " " << num(compute) << " " << num(comm) << " " << num(bubble)
      << " " << num(other) << "\n";
  }
  b << "set title " << gnuplot_string(title + " (seconds per step)") << "\n"
    << "set ylabel \"seconds per step\"\n"
    << "set yrange [0:*]\n"
    << "set style data histograms\n"
    << "set style histogram rowstacked\n"
    << "set style fill solid 0.85 border -1\n"
    << "set boxwidth 0.6\n"
    << "set xtics rotate by 25 right\n"
    << "set key above horizontal font \",9\"\n"
    << "plot '" << id << ".dat' using 2:xtic(1) lt 1 title \"compute\", \\\n"
    << "     '' using 3 lt 4 title \"communication (exposed)\", \\\n"
    << "     '' using 4 lt 2 title \"pipeline bubble\", \\\n"
    << "     '' using 5 lt 8 title \"other (data, optimizer, waits)\"\n";
  c.plot.data = d.str();
  c.plot.body = b.str();
  return c;
}

ChartSpec memory_chart(const ReportData& data) {
  const std::string id = "memory", title = "Memory per rank";
  std::ostringstream d, b;
  d << "# configuration/rank params_MiB grads_MiB optimizer_state_MiB activations_MiB other_MiB\n";
  int bars = 0, measured = 0;
  bool activations = false;
  constexpr double kMiB = 1024.0 * 1024.0;
  for (const ConfigGroup* g : data.finished())
    for (const RankMemory& m : rank_memory(*g)) {
      if (m.params + m.grads + m.optimizer + m.activations <= 0) continue;
      d << gnuplot_field(g->label + " r" + std::to_string(m.rank)) << " " << num(m.params / kMiB)
        << " " << num(m.grads / kMiB) << " " << num(m.optimizer / kMiB) << " "
        << num(m.activations / kMiB) << " " << num(m.other / kMiB) << "\n";
      activations = activations || m.activations > 0;
      measured += m.measured ? 1 : 0;
      ++bars;
    }
  if (bars == 0)
    return missing_chart(id, title,
                         "Finished runs whose summary lists ranks[] with param_bytes, grad_bytes "
                         "and optimizer_state_bytes fill this chart.");
  ChartSpec c = missing_chart(id, title, "");
  c.reading = read_memory(data);
  c.note = measured == bars
               ? std::string("Measured by the allocator (tcmalloc's allocated bytes on the CPU, the "
                             "CUDA caching allocator on a GPU), from summary.json "
                             "ranks[].memory_measured of the first finished repeat: the bar's "
                             "height is the rank's peak in a step, split into parameters, "
                             "gradients, optimizer state, activations (at the end of forward) and "
                             "the rest.")
               : std::string("Bytes each rank holds, from summary.json ranks[] of the first "
                             "finished repeat; ") +
                     std::to_string(measured) + " of " + std::to_string(bars) +
                     " bars measured by the allocator, the others from the tensors' sizes "
                     "(runs from before memory was measured)" +
                     (activations ? "." : "; no run measured activations.");
  c.note += " Process peak RSS, which includes the rest of the process, is in the run table.";
  b << "set title " << gnuplot_string(title + " (MiB)") << "\n"
    << "set ylabel \"MiB per rank\"\n"
    << "set yrange [0:*]\n"
    << "set style data histograms\n"
    << "set style histogram rowstacked\n"
    << "set style fill solid 0.85 border -1\n"
    << "set boxwidth 0.6\n"
    << "set xtics rotate by 30 right font \",8\"\n"
    << "set key above horizontal font \",9\"\n"
    << "plot '" << id << ".dat' using 2:xtic(1) lt 1 title \"parameters\", \\\n"
    << "     '' using 3 lt 2 title \"gradients\", \\\n"
    << "     '' using 4 lt 3 title \"optimizer state\", \\\n"
    << "     '' using 5 lt 5 title \"activations\", \\\n"
    << "     '' using 6 lt 9 title \"other\"\n";
  c.plot.data = d.str();
  c.plot.body = b.str();
  return c;
}

ChartSpec mfu_chart(const ReportData& data) {
  const std::string id = "mfu", title = "Model FLOPs utilisation per configuration";
  std::vector<BarRow> rows;
  const ConfigGroup *best = nullptr, *worst = nullptr;
  for (const ConfigGroup* g : data.finished()) {
    if (!g->mfu.present()) continue;
    Stat percent = g->mfu;
    percent.mean *= 100, percent.min *= 100, percent.max *= 100;
    rows.push_back({g->label, percent, format_sig(percent.mean) + "%"});
    if (!best || g->mfu.mean > best->mfu.mean) best = g;
    if (!worst || g->mfu.mean < worst->mfu.mean) worst = g;
  }
  std::string reading;
  if (best && worst && best != worst)
    reading = best->label + " uses the most of its ranks' arithmetic, " +
              format_sig(100 * best->mfu.mean) + "% of the measured peak; " + worst->label +
              " the least, " + format_sig(100 * worst->mfu.mean) + "%.";
  return bar_chart(
      id, title, "MFU (% of measured peak)", rows,
      "Runs whose summary.json has flops.mfu fill this chart.", reading,
      "MFU = the model's training FLOPs per sample (2 per multiply-accumulate of every "
      "convolution, linear layer and attention product, x 3 for training) x samples/s, over the "
      "world's peak: each rank's best square GEMM in the run's precision, measured on its own "
      "threads or GPU as the run began (summary flops.peak_source). Communication, bubbles and "
      "small kernels all lower it.");
}

}  // namespace parallax
