// The resource charts' data (scaling, memory per rank), derived from the grouped runs.
#include <algorithm>
#include <string>
#include <vector>

#include "report/report_data.h"

namespace parallax {

std::vector<ScalingPoint> scaling_points(const ReportData& data) {
  std::vector<std::string> strategies;
  for (const ConfigGroup* g : data.finished())
    if (std::find(strategies.begin(), strategies.end(), g->strategy) == strategies.end())
      strategies.push_back(g->strategy);
  std::vector<ScalingPoint> points;
  for (const std::string& s : strategies) {
    // One line per strategy, on one workload: that of its run at the most ranks.
    const ConfigGroup* widest = nullptr;
    for (const ConfigGroup* g : data.finished())
      if (g->strategy == s && g->images_per_sec.present() && (!widest || g->world > widest->world))
        widest = g;
    if (!widest || widest->world <= 1) continue;  // nothing scaled
    const std::string& workload = widest->workload;
    const ConfigGroup* base = data.scaling_base(s, workload);
    if (!base || base->images_per_sec.mean <= 0) continue;
    std::vector<int> worlds{1};  // the line starts at its base
    for (const ConfigGroup* g : data.finished())
      if (g->strategy == s && g->workload == workload && g->images_per_sec.present())
        worlds.push_back(g->world);
    std::sort(worlds.begin(), worlds.end());
    worlds.erase(std::unique(worlds.begin(), worlds.end()), worlds.end());
    for (int w : worlds) {
      const ConfigGroup* g = data.fastest_of(s, w, workload);
      if (!g && w == 1) g = base;  // a strategy without its own 1-rank run starts from single
      if (!g) continue;
      ScalingPoint p;
      p.strategy = s;
      p.world = w;
      p.images_per_sec = g->images_per_sec.mean;
      p.efficiency = p.images_per_sec / (w * base->images_per_sec.mean);
      p.group = g;
      p.base = base;
      points.push_back(p);
    }
  }
  return points;
}

std::vector<RankMemory> rank_memory(const ConfigGroup& group) {
  std::vector<RankMemory> out;
  const RunRecord* run = group.first();
  if (!run || !run->summary.contains("ranks") || !run->summary["ranks"].is_array()) return out;
  const nlohmann::json& ranks = run->summary["ranks"];
  const nlohmann::json* stages = nullptr;
  if (run->summary.contains("strategy_details") && run->summary["strategy_details"].is_object() &&
      run->summary["strategy_details"].contains("ranks") &&
      run->summary["strategy_details"]["ranks"].is_array())
    stages = &run->summary["strategy_details"]["ranks"];
  for (size_t i = 0; i < ranks.size(); ++i) {
    const nlohmann::json& r = ranks[i];
    RankMemory m;
    m.rank = static_cast<int>(json_number(r, {"rank"}).value_or(static_cast<double>(i)));
    m.params = json_number(r, {"param_bytes"}).value_or(0);
    m.grads = json_number(r, {"grad_bytes"}).value_or(0);
    m.optimizer = json_number(r, {"optimizer_state_bytes"}).value_or(0);
    m.peak = json_number(r, {"peak_memory_bytes"});
    if (r.contains("memory_measured") && r["memory_measured"].is_object() &&
        json_number(r["memory_measured"], {"peak"})) {
      const nlohmann::json& mm = r["memory_measured"];
      m.measured = true;
      m.params = json_number(mm, {"parameters"}).value_or(0);
      m.grads = json_number(mm, {"gradients"}).value_or(0);
      m.optimizer = json_number(mm, {"optimizer_state"}).value_or(0);
      m.activations = json_number(mm, {"activations"}).value_or(0);
      m.other = json_number(mm, {"other"}).value_or(0);
      out.push_back(m);
      continue;
    }
    if (auto a = json_number(r, {"activation_bytes"})) {
      m.activations = *a;
    } else if (stages && i < stages->size()) {
      // Pipeline details list ranks in rank order (stage-major within a replica).
      m.activations = json_number((*stages)[i], {"peak_activation_bytes"}).value_or(0);
    }
    out.push_back(m);
  }
  return out;
}

}  // namespace parallax
