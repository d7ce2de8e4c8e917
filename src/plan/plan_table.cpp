// The plan's table and JSON.
#include "plan/plan_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "metrics/percentiles.h"

namespace parallax {
namespace {

double mib(double bytes) {
  return bytes / (1024.0 * 1024.0);
}

nlohmann::json options_of(const PlanCandidate& c) {
  nlohmann::json o = {{"world", c.world}};
  if (c.strategy == "ddp") o.update({{"overlap", c.overlap}, {"bucket_mb", c.bucket_mb}});
  if (c.strategy == "zero") o["zero_stage"] = c.zero_stage;
  if (c.strategy == "pipeline" || c.strategy == "hybrid" || c.strategy == "model") {
    o.update({{"schedule", c.strategy == "model" ? "gpipe" : c.schedule},
              {"micro_batches", c.micro_batches},
              {"virtual_stages", c.virtual_stages},
              {"cuts", c.cuts}});
    if (c.strategy == "hybrid") o.update({{"dp", c.dp}, {"pp", c.pp}});
  }
  o["train_args"] = c.args;
  return o;
}

// ", 4.2% faster than ddp bucket 5 (the runner-up)"
std::string runner_up(const std::vector<PlanRow>& rows) {
  char buf[160];
  std::snprintf(buf, sizeof buf, ", %.1f%% faster than the runner-up, %s",
                100 * (rows[1].predicted.step_s / rows.front().predicted.step_s - 1),
                rows[1].candidate.label.c_str());
  return buf;
}

// The candidate column: as wide as the longest label ("pipeline interleaved-1f1b m16 recompute
// selective"), at least 28.
int label_width(const std::vector<PlanRow>& rows) {
  size_t w = 28;
  for (const auto& r : rows) w = std::max(w, r.candidate.label.size());
  return static_cast<int>(w);
}

}  // namespace

void rank_rows(std::vector<PlanRow>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const PlanRow& a, const PlanRow& b) {
    if (a.fits != b.fits) return a.fits;
    return a.predicted.step_s < b.predicted.step_s;
  });
  for (size_t i = 0; i < rows.size(); ++i) rows[i].place = static_cast<int>(i) + 1;
}

void print_plan(const PlanHeader& h, const std::vector<PlanRow>& rows) {
  std::printf("plan: %s, batch %lld, %s on %s, %d rank%s x %d thread%s; %s (profile: %s)\n",
              h.model.c_str(), static_cast<long long>(h.batch), h.precision.c_str(),
              h.device.c_str(), h.world, h.world == 1 ? "" : "s", h.threads,
              h.threads == 1 ? "" : "s",
              h.scale == "measured" ? "predicted for this machine"
                                    : "a prediction for a machine not measured here",
              h.profile_source.c_str());
  const int w = label_width(rows);
  std::printf("%3s  %-*s %10s %9s %11s  %s\n", "#", w, "candidate", "ms/step", h.rate_unit.c_str(),
              "peak MiB", "why");
  for (const auto& r : rows) {
    std::printf("%3d  %-*s %10.1f %9.1f %11.1f%s  %s\n", r.place, w, r.candidate.label.c_str(),
                r.predicted.step_s * 1e3, r.predicted.images_per_sec, mib(r.peak_bytes),
                r.fits ? "" : " (too big)", r.predicted.reason.c_str());
  }
  if (!rows.empty() && rows.front().fits)
    std::printf("plan: use %s: predicted %.1f %s%s\n", rows.front().candidate.label.c_str(),
                rows.front().predicted.images_per_sec, h.rate_unit.c_str(),
                rows.size() > 1 ? runner_up(rows).c_str() : "");
}

nlohmann::json plan_json(const PlanHeader& h, const std::vector<PlanRow>& rows) {
  nlohmann::json list = nlohmann::json::array(), checked = nlohmann::json::array();
  for (const auto& r : rows) {
    PredictedMemory worst;
    for (const auto& m : r.memory)
      if (m.peak >= worst.peak) worst = m;
    nlohmann::json per_rank = nlohmann::json::array();
    for (const auto& m : r.memory) per_rank.push_back(m.peak);
    nlohmann::json row = {
        {"place", r.place},
        {"label", r.candidate.label},
        {"strategy", r.candidate.strategy},
        {"recompute", r.candidate.recompute},
        {"options", options_of(r.candidate)},
        {"predicted_step_s", r.predicted.step_s},
        {"predicted_images_per_sec", r.predicted.images_per_sec},
        {"predicted_parts",
         {{"forward_s", r.predicted.forward_s},
          {"backward_s", r.predicted.backward_s},
          {"comm_s", r.predicted.comm_s},
          {"exposed_comm_s", r.predicted.exposed_comm_s},
          {"hidden_fraction", r.predicted.hidden_fraction},
          {"bubble", r.predicted.bubble},
          {"optimizer_s", r.predicted.optimizer_s},
          {"slowdown", r.predicted.slowdown}}},
        {"predicted_memory",
         {{"parameters", worst.parameters},
          {"gradients", worst.gradients},
          {"optimizer_state", worst.optimizer_state},
          {"activations", worst.activations},
          {"other", worst.other},
          {"peak", worst.peak},
          {"peak_per_rank", per_rank}}},
        {"fits", r.fits},
        {"reason", r.predicted.reason}};
    if (r.checked) {
      if (r.check_error.empty()) {
        row["measured_step_s"] = r.measured_step_s;
        row["measured_images_per_sec"] = r.measured_images_per_sec;
        row["measured_peak_bytes"] = r.measured_peak_bytes;
        row["measured_rounds"] = r.measured_rounds;
        row["step_error"] = (r.predicted.step_s - r.measured_step_s) / r.measured_step_s;
        row["measured_drift"] = r.measured_drift;
        row["step_error_drift_corrected"] =
            (r.predicted.step_s * r.measured_drift - r.measured_step_s) / r.measured_step_s;
      } else {
        row["check_error"] = r.check_error;
      }
      checked.push_back(r.candidate.label);
    }
    list.push_back(row);
  }
  nlohmann::json out = {{"model", h.model},
                        {"batch_size", h.batch},
                        {"precision", h.precision},
                        {"device", h.device},
                        {"world", h.world},
                        {"threads", h.threads},
                        {"scale", h.scale},
                        {"profile_source", h.profile_source},
                        {"memory_budget_bytes", h.budget_bytes},
                        {"rows", list}};
  if (!checked.empty()) out["checked"] = checked;
  if (h.check_interrupted) out["interrupted"] = true;  // "checked" lists what ran before it
  return out;
}

std::vector<double> step_errors(const std::vector<PlanRow>& rows, bool drift_corrected) {
  std::vector<double> e;
  for (const auto& r : rows)
    if (r.checked && r.check_error.empty() && r.measured_step_s > 0) {
      const double predicted = r.predicted.step_s * (drift_corrected ? r.measured_drift : 1);
      e.push_back(std::abs(predicted - r.measured_step_s) / r.measured_step_s);
    }
  return e;
}

void print_check(const std::vector<PlanRow>& rows, bool partial) {
  int w = 28;
  for (const auto& r : rows)
    if (r.checked) w = std::max(w, static_cast<int>(r.candidate.label.size()));
  std::printf("check: %-*s %10s %10s %8s %7s %8s %10s %10s %8s\n", w, "candidate", "pred ms",
              "meas ms", "error", "drift", "error*", "pred MiB", "meas MiB", "error");
  for (const auto& r : rows) {
    if (!r.checked) continue;
    if (!r.check_error.empty()) {
      std::printf("check: %-*s failed: %s\n", w, r.candidate.label.c_str(), r.check_error.c_str());
      continue;
    }
    const double e = (r.predicted.step_s - r.measured_step_s) / r.measured_step_s;
    const double ed = (r.predicted.step_s * r.measured_drift - r.measured_step_s) / r.measured_step_s;
    const double me = r.measured_peak_bytes > 0
                          ? (static_cast<double>(r.peak_bytes) - r.measured_peak_bytes) / r.measured_peak_bytes
                          : NAN;
    std::printf("check: %-*s %10.1f %10.1f %+7.1f%% %7.3f %+7.1f%% %10.1f %10.1f %+7.1f%%\n",
                w, r.candidate.label.c_str(), r.predicted.step_s * 1e3, r.measured_step_s * 1e3,
                100 * e, r.measured_drift, 100 * ed, mib(r.peak_bytes), mib(r.measured_peak_bytes),
                100 * me);
  }
  auto median_of = [](const std::vector<double>& e) { return percentile(e, 0.5); };
  const auto e = step_errors(rows), ed = step_errors(rows, true);
  if (e.empty()) return;
  std::vector<double> mem;
  for (const auto& r : rows)
    if (r.checked && r.check_error.empty() && r.measured_peak_bytes > 0)
      mem.push_back(std::abs(static_cast<double>(r.peak_bytes) - r.measured_peak_bytes) /
                    r.measured_peak_bytes);
  const PlanRow* fastest = nullptr;
  for (const auto& r : rows)
    if (r.checked && r.check_error.empty() &&
        (!fastest || r.measured_step_s < fastest->measured_step_s))
      fastest = &r;
  const PlanRow& first = rows.front();
  std::printf("check: step time error over %zu candidates: median %.1f%%, worst %.1f%%; with the "
              "machine's drift taken out (error*): median %.1f%%, worst %.1f%%\n",
              e.size(), 100 * median_of(e), 100 * *std::max_element(e.begin(), e.end()),
              100 * median_of(ed), 100 * *std::max_element(ed.begin(), ed.end()));
  if (!mem.empty())
    std::printf("check: peak memory error: median %.1f%%, worst %.1f%%\n", 100 * median_of(mem),
                100 * *std::max_element(mem.begin(), mem.end()));
  if (partial) return;  // the fastest of the rows that ran is no verdict
  std::printf("check: measured fastest: %s (%.1f ms); ranked first: %s%s\n",
              fastest->candidate.label.c_str(), fastest->measured_step_s * 1e3,
              first.candidate.label.c_str(),
              &first == fastest ? " (the same)"
              : first.checked && first.check_error.empty()
                  ? (" (" + std::to_string(std::lround(100 * (first.measured_step_s / fastest->measured_step_s - 1))) +
                     "% slower, measured)").c_str()
                  : "");
}

}  // namespace parallax
