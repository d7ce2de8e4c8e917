// Profile's lookups: block times between profiled sizes, the slowdown curve, a collective's fit.
#include "plan/profile.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace parallax {
namespace {

BlockTimes mix(const BlockTimes& a, const BlockTimes& b, double t) {
  auto lerp = [t](double x, double y) { return std::max(0.0, x + (y - x) * t); };
  return {lerp(a.forward, b.forward), lerp(a.backward, b.backward), lerp(a.input, b.input),
          lerp(a.weight, b.weight)};
}

}  // namespace

std::vector<BlockTimes> Profile::blocks_at(int64_t rows) const {
  if (blocks_by_rows.empty()) return {};
  const auto exact = blocks_by_rows.find(rows);
  if (exact != blocks_by_rows.end()) return exact->second;
  auto hi = blocks_by_rows.lower_bound(rows);
  std::vector<BlockTimes> out;
  if (hi == blocks_by_rows.begin() || hi == blocks_by_rows.end()) {
    // Outside the profiled sizes: proportional to the rows of the nearest one.
    const auto& [r, times] = hi == blocks_by_rows.end() ? *blocks_by_rows.rbegin() : *hi;
    const double k = static_cast<double>(rows) / static_cast<double>(r);
    for (const auto& b : times) out.push_back({b.forward * k, b.backward * k, b.input * k, b.weight * k});
    return out;
  }
  auto lo = std::prev(hi);
  const double t = static_cast<double>(rows - lo->first) / static_cast<double>(hi->first - lo->first);
  for (size_t i = 0; i < lo->second.size(); ++i) out.push_back(mix(lo->second[i], hi->second[i], t));
  return out;
}

Profile Profile::under_recompute(const std::string& mode) const {
  if (mode == "none") return *this;
  const auto it = recomputed_blocks_by_rows.find(mode);
  if (it == recomputed_blocks_by_rows.end())
    throw std::invalid_argument("the profile has no block times under --recompute " + mode);
  Profile p = *this;
  p.blocks_by_rows = it->second;
  p.recomputed_blocks_by_rows.clear();
  return p;
}

double Profile::slowdown_at(double k) const {
  if (slowdown.empty() || k <= 1) return 1;
  const double i = k - 1;
  const size_t below = static_cast<size_t>(std::floor(i));
  if (below + 1 >= slowdown.size()) return slowdown.back();
  const double t = i - static_cast<double>(below);
  return slowdown[below] + (slowdown[below + 1] - slowdown[below]) * t;
}

CollectiveFit Profile::collective(const std::string& kind) const {
  const auto it = collectives.find(kind);
  if (it != collectives.end()) return it->second;
  // A missing kind from its ring relative: all-reduce = reduce-scatter + all-gather.
  auto has = [&](const char* k) { return collectives.count(k) > 0; };
  if (kind == "all_reduce" && has("reduce_scatter")) {
    CollectiveFit f = collectives.at("reduce_scatter");
    f.latency_s *= 2;
    f.bytes_per_s /= 2;
    return f;
  }
  if ((kind == "reduce_scatter" || kind == "all_gather") && has("all_reduce")) {
    CollectiveFit f = collectives.at("all_reduce");
    f.latency_s /= 2;
    f.bytes_per_s *= 2;
    return f;
  }
  if (kind == "reduce_scatter" && has("all_gather")) return collectives.at("all_gather");
  if (kind == "all_gather" && has("reduce_scatter")) return collectives.at("reduce_scatter");
  return {};
}

}  // namespace parallax
