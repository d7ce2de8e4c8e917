// rank_timing() and find_straggler().
#include "metrics/stragglers.h"

#include <algorithm>
#include <cstdio>

#include "metrics/train_records.h"

namespace parallax {

RankTiming rank_timing(const std::vector<StepRecord>& steps, int64_t warmup) {
  std::vector<double> step, work, wait;
  for (const auto& r : steps) {
    if (r.step < warmup) continue;
    const double waited = std::min(r.step_s, std::max(0.0, r.comm_s) + std::max(0.0, r.idle_s));
    step.push_back(r.step_s);
    wait.push_back(waited);
    work.push_back(r.step_s - waited);
  }
  return {percentiles(step), percentiles(work), percentiles(wait)};
}

std::optional<Straggler> find_straggler(const std::vector<RankTiming>& ranks) {
  if (ranks.size() < 2) return std::nullopt;
  std::vector<size_t> order(ranks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return ranks[a].work_s.median < ranks[b].work_s.median;
  });
  const size_t slowest = order.back();
  const RankTiming& median_rank = ranks[order[(order.size() - 1) / 2]];
  const RankTiming& slow = ranks[slowest];
  const double base = median_rank.work_s.median;
  if (base <= 0) return std::nullopt;
  const double ratio = slow.work_s.median / base;
  // Beyond noise: the two ranks' step-to-step spreads do not overlap, and the gap is not slight.
  if (ratio < 1.1 || slow.work_s.p10 <= median_rank.work_s.p90) return std::nullopt;
  std::vector<double> fractions;
  for (size_t r = 0; r < ranks.size(); ++r)
    if (r != slowest && ranks[r].step_s.median > 0)
      fractions.push_back(ranks[r].wait_s.median / ranks[r].step_s.median);
  Straggler s;
  s.rank = static_cast<int>(slowest);
  s.work_ratio = ratio;
  s.others_wait_fraction = percentile(fractions, 0.5);
  char line[200];
  std::snprintf(line, sizeof line,
                "rank %d works %.1fx the median rank's time per step; the others wait for it "
                "%.0f%% of the step",
                s.rank, s.work_ratio, 100 * s.others_wait_fraction);
  s.reading = line;
  return s;
}

}  // namespace parallax
