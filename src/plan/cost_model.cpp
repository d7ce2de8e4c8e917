// predict_step(): single here; data-parallel and pipeline strategies in their own files.
#include "plan/cost_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace parallax {

std::string ms_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 0.01 ? "%.2f ms" : s < 1 ? "%.1f ms" : "%.0f ms", s * 1e3);
  return buf;
}

std::string rate_text(double bytes_per_s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB/s", bytes_per_s / 1e9);
  return buf;
}

std::string mib_text(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

int64_t candidate_rows(const PlanCandidate& c, int64_t batch) {
  if (c.strategy == "single") return batch;
  if (c.strategy == "ddp" || c.strategy == "zero") return std::max<int64_t>(1, batch / c.world);
  const int dp = c.strategy == "hybrid" ? c.dp : 1;
  return std::max<int64_t>(1, batch / dp / std::max(1, c.micro_batches));
}

std::vector<double> serial_queue(const std::vector<double>& ready, const std::vector<double>& cost) {
  std::vector<double> end(ready.size());
  double free_at = 0;
  for (size_t k = 0; k < ready.size(); ++k) {
    free_at = std::max(free_at, ready[k]) + cost[k];
    end[k] = free_at;
  }
  return end;
}

double overlap_s(double a0, double a1, double b0, double b1) {
  return std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
}

PredictedStep predict_step(const Profile& p, const PlanCandidate& c, int64_t batch) {
  if (p.blocks_by_rows.empty()) throw std::invalid_argument("the profile has no block times");
  if (c.strategy == "ddp" || c.strategy == "zero" || c.strategy == "single")
    return predict_data_parallel(p, c, batch);
  if (c.strategy == "model" || c.strategy == "pipeline" || c.strategy == "hybrid")
    return predict_pipeline(p, c, batch);
  throw std::invalid_argument("no cost model for strategy '" + c.strategy + "'");
}

}  // namespace parallax
