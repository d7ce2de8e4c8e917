// Readings of the resource charts: scaling efficiency, the step's breakdown, memory per rank.
#include <algorithm>
#include <vector>

#include "report/readings.h"
#include "report/readings_noise.h"

namespace parallax {

std::string read_scaling(const ReportData& data) {
  const auto points = scaling_points(data);
  // The largest world of each strategy, in order.
  std::vector<const ScalingPoint*> tops;
  for (const ScalingPoint& p : points) {
    if (p.world <= 1) continue;
    if (!tops.empty() && tops.back()->strategy == p.strategy)
      tops.back() = &p;
    else
      tops.push_back(&p);
  }
  if (tops.empty()) return "";
  std::stable_sort(tops.begin(), tops.end(), [](const ScalingPoint* a, const ScalingPoint* b) {
    return a->efficiency > b->efficiency;
  });
  const ScalingPoint& lead = *tops.front();
  std::string s = "at " + std::to_string(lead.world) + " ranks " + lead.strategy + " keeps " +
                  format_percent(lead.efficiency) + " scaling efficiency (" +
                  format_img_s(lead.images_per_sec) + " img/s vs " +
                  format_img_s(lead.base->images_per_sec.mean) + " for " + lead.base->label + ")";
  for (size_t i = 1; i < tops.size(); ++i)
    s += std::string(i + 1 == tops.size() ? " and " : ", ") + tops[i]->strategy + " " +
         format_percent(tops[i]->efficiency) +
         (tops[i]->world != lead.world ? " at " + std::to_string(tops[i]->world) : "");
  return s + ".";
}

std::string read_breakdown(const ReportData& data) {
  const ConfigGroup *comm = nullptr, *bubble = nullptr;
  auto share = [](const ConfigGroup* g, StatMember part) {
    return g->step_time_s.mean > 0 ? (g->*part).mean / g->step_time_s.mean : 0.0;
  };
  bool any = false;
  for (const ConfigGroup* g : data.finished()) {
    if (!g->step_time_s.present()) continue;
    any = any || g->compute_per_step_s.present();
    if (g->comm_per_step_s.present() && g->comm_per_step_s.mean > 0 &&
        (!comm ||
         share(g, &ConfigGroup::comm_per_step_s) > share(comm, &ConfigGroup::comm_per_step_s)))
      comm = g;
    if (g->bubble_per_step_s.present() &&
        (!bubble || share(g, &ConfigGroup::bubble_per_step_s) >
                        share(bubble, &ConfigGroup::bubble_per_step_s)))
      bubble = g;
  }
  if (!any) return "";
  std::string s;
  if (comm)
    s = "exposed communication takes " +
        format_percent(share(comm, &ConfigGroup::comm_per_step_s)) + " of a " + comm->label +
        " step (" + format_seconds(comm->comm_per_step_s.mean) + " of " +
        format_seconds(comm->step_time_s.mean) + ")";
  else
    s = "no configuration leaves communication exposed";
  if (bubble)
    s += std::string(comm ? " and the pipeline bubble " : "; the pipeline bubble takes ") +
         format_percent(share(bubble, &ConfigGroup::bubble_per_step_s)) + " of a " + bubble->label +
         " step";
  return s + ".";
}

std::string read_memory(const ReportData& data) {
  // ZeRO's claim is memory for speed: compare it with ddp at the same world size.
  for (const ConfigGroup* z : data.finished()) {
    if (z->strategy.rfind("zero", 0) != 0) continue;
    const ConfigGroup* ddp = data.fastest_of("ddp", z->world, z->workload);
    if (!ddp || !z->images_per_sec.present() || !ddp->images_per_sec.present()) continue;
    double z_opt = 0, d_opt = 0;
    for (const RankMemory& m : rank_memory(*z)) z_opt = std::max(z_opt, m.optimizer);
    for (const RankMemory& m : rank_memory(*ddp)) d_opt = std::max(d_opt, m.optimizer);
    if (z_opt <= 0 || d_opt <= 0) continue;
    // ZeRO's extra all-gather costs speed only where the gap is wider than the repeats' spread.
    const RepeatComparison c = compare_repeats(z->images_per_sec, ddp->images_per_sec);
    const std::string speed =
        c.differs ? "trains at " + format_ratio(z->images_per_sec.mean / ddp->images_per_sec.mean) +
                        " ddp"
                  : "trains as fast as ddp within noise (" + format_img_s(z->images_per_sec.mean) +
                        " vs " + format_img_s(ddp->images_per_sec.mean) + " img/s; " +
                        spread_text(c.spread) + ")";
    return z->strategy + " " + speed + " with " + format_ratio(z_opt / d_opt) +
           " the optimizer state (" + format_mib(z_opt) + " vs " + format_mib(d_opt) +
           " per rank).";
  }
  const ConfigGroup* most = nullptr;
  RankMemory top;
  double top_sum = 0;
  for (const ConfigGroup* g : data.finished())
    for (const RankMemory& m : rank_memory(*g)) {
      const double sum = m.params + m.grads + m.optimizer + m.activations;
      if (sum > top_sum) most = g, top = m, top_sum = sum;
    }
  if (!most) return "";
  return most->label + " rank " + std::to_string(top.rank) +
         " holds the most: " + format_mib(top_sum) +
         " of parameters, gradients, optimizer state and activations.";
}

}  // namespace parallax
