// Report data: grouping by label and the per-configuration statistics over finished repeats.
#include "report/report_data.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "metrics/pipeline_bubble.h"

namespace parallax {
namespace {

using Getter = std::function<std::optional<double>(const RunRecord&)>;

Stat stat_over(const std::vector<const RunRecord*>& runs, const Getter& get) {
  std::vector<double> values;
  for (const RunRecord* r : runs)
    if (auto v = get(*r)) values.push_back(*v);
  return stat_of(values);
}

std::optional<double> number_at(const nlohmann::json& j, const std::vector<const char*>& path) {
  const nlohmann::json* at = &j;
  for (const char* k : path) {
    if (!at->is_object() || !at->contains(k)) return std::nullopt;
    at = &(*at)[k];
  }
  if (!at->is_number()) return std::nullopt;
  return at->get<double>();
}

Getter summary_number(std::initializer_list<const char*> path) {
  std::vector<const char*> keys(path);
  return [keys](const RunRecord& r) { return number_at(r.summary, keys); };
}

// Steps the summary's totals (compute_s, comm_s) were summed over: the timed steps after the
// warm-up. Dividing by them turns the totals into per-step seconds comparable to step_time_s.
std::optional<double> timed_steps(const RunRecord& r) {
  if (auto n = json_number(r.summary, {"step_time_s", "samples"}); n && *n > 0) return n;
  auto steps = json_number(r.summary, {"steps"});
  auto warm = json_number(r.summary, {"timing_warmup_steps"});
  if (steps && *steps - warm.value_or(0) > 0) return *steps - warm.value_or(0);
  return std::nullopt;
}

Getter per_step(const char* total_key) {
  return [total_key](const RunRecord& r) -> std::optional<double> {
    auto total = json_number(r.summary, {total_key});
    auto n = timed_steps(r);
    if (!total || !n) return std::nullopt;
    return *total / *n;
  };
}

std::optional<double> bubble_fraction(const RunRecord& r) {
  if (auto b = json_number(r.summary, {"bubble_fraction"})) return b;
  return json_number(r.summary, {"strategy_details", "bubble_fraction"});
}

// The gradient buckets' figures (strategy_details.buckets), each the mean over the repeats that
// have it, as the other figures of a configuration are.
std::vector<ConfigGroup::Bucket> mean_buckets(const std::vector<const RunRecord*>& runs) {
  std::vector<ConfigGroup::Bucket> sum;
  std::vector<int> n;
  for (const RunRecord* r : runs) {
    const auto& s = r->summary;
    if (!s.contains("strategy_details") || !s["strategy_details"].is_object()) continue;
    const auto& d = s["strategy_details"];
    if (!d.contains("buckets") || !d["buckets"].is_array()) continue;
    for (size_t i = 0; i < d["buckets"].size(); ++i) {
      const auto& b = d["buckets"][i];
      if (sum.size() <= i) sum.resize(i + 1), n.resize(i + 1);
      sum[i].bytes += json_number(b, {"bytes"}).value_or(0);
      sum[i].wait_s += json_number(b, {"mean_wait_s"}).value_or(0);
      sum[i].in_flight_s += json_number(b, {"mean_in_flight_s"}).value_or(0);
      ++n[i];
    }
  }
  for (size_t i = 0; i < sum.size(); ++i)
    sum[i] = {sum[i].bytes / n[i], sum[i].wait_s / n[i], sum[i].in_flight_s / n[i]};
  return sum;
}

std::optional<double> positive(std::optional<double> v) {
  return v && *v > 0 ? v : std::nullopt;
}

// The busiest stage's busy seconds over the least busy one's, from the stages' own timers.
std::optional<double> stage_imbalance(const RunRecord& r) {
  const nlohmann::json* ranks = &r.summary;
  for (const char* k : {"strategy_details", "ranks"}) {
    if (!ranks->is_object() || !ranks->contains(k)) return std::nullopt;
    ranks = &(*ranks)[k];
  }
  if (!ranks->is_array()) return std::nullopt;
  std::optional<double> most, least;
  for (const auto& rank : *ranks)
    if (auto b = positive(json_number(rank, {"busy_s"}))) {
      most = std::max(most.value_or(*b), *b);
      least = std::min(least.value_or(*b), *b);
    }
  if (!most) return std::nullopt;
  return *most / *least;
}

// Test images of a run: summary.json's dataset.test_images; runs recorded before it existed
// fall back to a synthetic set's configured size.
std::optional<double> test_images_of(const RunRecord& r) {
  if (auto n = positive(json_number(r.summary, {"dataset", "test_images"}))) return n;
  if (json_string(r.config, {"dataset"}) == "synthetic")
    return positive(json_number(r.config, {"synthetic_test"}));
  return std::nullopt;
}

// Pipeline shape of a run: from strategy_details when the run recorded it, else from the config
// (`model` is a pipeline with one micro-batch, so its micro-batch is the whole batch).
void fill_pipeline_shape(const RunRecord& r, ConfigGroup& g) {
  const auto batch = positive(json_number(r.config, {"batch_size"}));
  auto mbs = positive(json_number(r.summary, {"strategy_details", "micro_batch_size"}));
  auto m = positive(json_number(r.summary, {"strategy_details", "micro_batches"}));
  auto p = positive(json_number(r.summary, {"strategy_details", "stages"}));
  if (g.strategy == "model") {
    if (!m) m = 1.0;
    if (!mbs) mbs = batch;
  }
  if (!mbs) mbs = positive(json_number(r.config, {"split_size"}));
  if (!m) m = positive(json_number(r.config, {"micro_batches"}));
  if (!mbs && m && batch) mbs = std::ceil(*batch / *m);
  if (!m && mbs && batch) m = std::ceil(*batch / *mbs);
  if (!p) p = static_cast<double>(g.world);
  g.micro_batch_size = mbs;
  g.micro_batches = m;
  g.stages = p;
  if (g.strategy == "pipeline") {
    g.schedule = json_string(r.summary, {"strategy_details", "schedule"});
    if (g.schedule.empty()) g.schedule = json_string(r.config, {"pipeline_schedule"});
  }
}

}  // namespace

Stat stat_of(const std::vector<double>& values) {
  Stat s;
  s.n = static_cast<int>(values.size());
  if (values.empty()) return s;
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / s.n;
  double sq = 0;
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.stddev = s.n > 1 ? std::sqrt(sq / (s.n - 1)) : 0.0;  // sample deviation over repeats
  return s;
}

std::optional<double> json_number(const nlohmann::json& j,
                                  std::initializer_list<const char*> path) {
  return number_at(j, std::vector<const char*>(path));
}

std::string json_string(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &j;
  for (const char* k : path) {
    if (!at->is_object() || !at->contains(k)) return "";
    at = &(*at)[k];
  }
  return at->is_string() ? at->get<std::string>() : "";
}

std::string strategy_name(const RunRecord& run) {
  std::string s = json_string(run.summary, {"strategy"});
  if (s.empty()) s = json_string(run.config, {"strategy"});
  if (s.empty()) return "unknown";
  if (s == "zero") {
    const auto stage = json_number(run.config, {"zero_stage"});
    return "zero-" + std::to_string(stage ? static_cast<int>(*stage) : 1);
  }
  return s;
}

int world_size_of(const RunRecord& run) {
  if (auto w = positive(json_number(run.summary, {"world_size"}))) return static_cast<int>(*w);
  const int nproc = static_cast<int>(json_number(run.config, {"nproc"}).value_or(1));
  const int nnodes = static_cast<int>(json_number(run.config, {"nnodes"}).value_or(1));
  return std::max(1, nproc) * std::max(1, nnodes);
}

const ConfigGroup* ReportData::find(const std::string& label) const {
  for (const auto& g : groups)
    if (g.label == label) return &g;
  return nullptr;
}

bool ReportData::language_models() const {
  return std::any_of(groups.begin(), groups.end(),
                     [](const ConfigGroup& g) { return g.language_model; });
}

std::vector<const ConfigGroup*> ReportData::finished() const {
  std::vector<const ConfigGroup*> out;
  for (const auto& g : groups)
    if (!g.finished.empty()) out.push_back(&g);
  return out;
}

const ConfigGroup* ReportData::first_of(const std::string& strategy, int world,
                                        const std::string& workload) const {
  for (const auto& g : groups)
    if (!g.finished.empty() && g.strategy == strategy && (world == 0 || g.world == world) &&
        (workload.empty() || g.workload == workload))
      return &g;
  return nullptr;
}

const ConfigGroup* ReportData::fastest_of(const std::string& strategy, int world,
                                          const std::string& workload) const {
  const ConfigGroup* best = nullptr;
  for (const auto& g : groups) {
    if (g.finished.empty() || g.strategy != strategy || g.world != world) continue;
    if (!g.images_per_sec.present() || (!workload.empty() && g.workload != workload)) continue;
    if (!best || g.images_per_sec.mean > best->images_per_sec.mean) best = &g;
  }
  return best;
}

const ConfigGroup* ReportData::scaling_base(const std::string& strategy,
                                            const std::string& workload) const {
  if (const ConfigGroup* own = fastest_of(strategy, 1, workload)) return own;
  return fastest_of("single", 1, workload);
}

std::string ReportData::sweep_workload() const {
  std::map<std::string, std::set<double>> sizes;
  std::vector<std::string> order;
  for (const ConfigGroup* g : finished())
    if (g->strategy == "pipeline" && g->micro_batch_size) {
      if (!sizes.count(g->workload)) order.push_back(g->workload);
      sizes[g->workload].insert(*g->micro_batch_size);
    }
  std::string best;
  size_t most = 0;
  for (const auto& w : order)
    if (sizes[w].size() > most) best = w, most = sizes[w].size();
  return best;
}

ReportData group_runs(const std::vector<RunRecord>& runs) {
  ReportData data;
  std::map<std::string, size_t> index;
  std::vector<std::vector<const RunRecord*>> members;
  for (const RunRecord& r : runs) {
    const std::string label = r.label.empty() ? r.name : r.label;
    auto [it, added] = index.emplace(label, data.groups.size());
    if (added) {
      data.groups.emplace_back();
      data.groups.back().label = label;
      members.emplace_back();
    }
    members[it->second].push_back(&r);
  }
  for (size_t i = 0; i < data.groups.size(); ++i) {
    ConfigGroup& g = data.groups[i];
    auto& rs = members[i];
    std::stable_sort(rs.begin(), rs.end(),
                     [](const RunRecord* a, const RunRecord* b) { return a->repeat < b->repeat; });
    for (const RunRecord* r : rs)
      (r->status == "finished" ? g.finished : g.unfinished).push_back(r);
    const RunRecord& lead = g.finished.empty() ? *rs.front() : *g.finished.front();
    g.strategy = strategy_name(lead);
    g.world = world_size_of(lead);
    for (const char* key : {"model", "dataset", "synthetic_kind", "image_size", "batch_size"})
      g.workload += (g.workload.empty() ? "" : " ") +
                    (lead.config.contains(key) ? lead.config[key].dump() : std::string("-"));
    const auto& f = g.finished;
    g.global_batch = positive(json_number(lead.config, {"batch_size"}));
    g.test_images = test_images_of(lead);
    g.train_time_s = stat_over(f, summary_number({"train_time_s"}));
    g.images_per_sec = stat_over(f, summary_number({"images_per_sec"}));
    g.mean_epoch_time_s = stat_over(f, summary_number({"mean_epoch_time_s"}));
    g.test_accuracy = stat_over(f, summary_number({"test_accuracy"}));
    g.final_loss = stat_over(f, summary_number({"final_loss"}));
    g.language_model = lead.summary.value("task", std::string()) == "language_model";
    g.validation_loss = stat_over(f, summary_number({"language_model", "validation_loss"}));
    g.tokens_per_sec = stat_over(f, summary_number({"tokens_per_sec"}));
    g.mfu = stat_over(f, summary_number({"flops", "mfu"}));
    g.epochs_to_target = stat_over(f, summary_number({"epochs_to_target"}));
    g.time_to_target_s = stat_over(f, summary_number({"time_to_target_s"}));
    g.target_accuracy = stat_over(f, summary_number({"target_accuracy"}));
    g.step_time_s = stat_over(f, summary_number({"step_time_s", "median"}));
    g.compute_per_step_s = stat_over(f, per_step("compute_s"));
    g.comm_per_step_s = stat_over(f, per_step("comm_s"));
    g.comm_busy_per_step_s = stat_over(f, per_step("comm_busy_s"));
    g.gather_wait_per_step_s = stat_over(f, per_step("comm_gather_wait_s"));
    g.buckets = mean_buckets(f);
    g.bubble_fraction = stat_over(f, bubble_fraction);
    g.bubble_per_step_s = stat_over(f, [](const RunRecord& r) -> std::optional<double> {
      auto b = bubble_fraction(r);
      auto step = json_number(r.summary, {"step_time_s", "median"});
      if (!b || !step) return std::nullopt;
      return *b * *step;
    });
    if (g.strategy == "pipeline" || g.strategy == "model") {
      fill_pipeline_shape(lead, g);
      // The schedule's own theory where the run recorded it, else GPipe's and 1F1B's.
      g.bubble_fraction_theory =
          stat_over(f, summary_number({"strategy_details", "bubble_fraction_theory"}));
      if (!g.bubble_fraction_theory.present() && g.micro_batches && g.stages)
        g.bubble_fraction_theory = stat_of(
            {theoretical_bubble(StageCount(*g.stages), MicroBatchCount(*g.micro_batches))});
      g.bubble_fraction_profiled =
          stat_over(f, summary_number({"strategy_details", "bubble_fraction_profiled"}));
      g.stage_imbalance = stat_over(f, stage_imbalance);
      g.peak_activation_bytes = stat_over(f, [](const RunRecord& r) -> std::optional<double> {
        const auto* ranks = &r.summary;
        for (const char* k : {"strategy_details", "ranks"}) {
          if (!ranks->is_object() || !ranks->contains(k)) return std::nullopt;
          ranks = &(*ranks)[k];
        }
        std::optional<double> most;
        for (const auto& rank : *ranks)
          if (auto b = json_number(rank, {"peak_activation_bytes"}))
            most = std::max(most.value_or(0), *b);
        return most;
      });
    }
  }
  return data;
}

}  // namespace parallax
