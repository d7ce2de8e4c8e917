// fit_collective(): weighted least squares of t = a + b * bytes (b = 1 / bandwidth), weights 1/t^2.
#include "plan/collective_fit.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace parallax {

const std::vector<std::string>& collective_kinds() {
  static const std::vector<std::string> kinds{"all_reduce", "reduce_scatter", "all_gather",
                                              "send_recv"};
  return kinds;
}

CollectiveFit fit_collective(const std::vector<std::pair<double, double>>& samples) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& [bytes, s] : samples) {
    if (!(s > 0)) throw std::invalid_argument("fit_collective: a time that is not positive");
    const double w = 1 / (s * s);
    sw += w;
    sx += w * bytes;
    sy += w * s;
    sxx += w * bytes * bytes;
    sxy += w * bytes * s;
    lo = std::min(lo, bytes);
    hi = std::max(hi, bytes);
  }
  if (samples.size() < 2 || !(hi > lo))
    throw std::invalid_argument("fit_collective: needs timings at two message sizes at least");
  const double det = sw * sxx - sx * sx;
  double slope = (sw * sxy - sx * sy) / det;
  double intercept = (sy - slope * sx) / sw;
  if (intercept < 0) {  // no latency: the line through the origin
    intercept = 0;
    slope = sxy / sxx;
  }
  if (!(slope > 0)) {  // no size dependence measurable: all latency
    slope = 1e-18;
    intercept = sy / sw;
  }
  CollectiveFit f;
  f.latency_s = intercept;
  f.bytes_per_s = 1 / slope;
  f.samples = static_cast<int>(samples.size());
  return f;
}

double ring_seconds(const std::string& kind, double bytes, int world, const Link& link) {
  if (kind == "send_recv") return link.latency_s + bytes / link.bytes_per_s;
  if (world <= 1) return 0;
  const double n = world;
  const double steps = kind == "all_reduce" ? 2 * (n - 1) : n - 1;
  return steps * link.latency_s + steps / n * bytes / link.bytes_per_s;
}

std::map<std::string, CollectiveFit> ring_fits(int world, const Link& link) {
  std::map<std::string, CollectiveFit> fits;
  for (const auto& kind : collective_kinds()) {
    CollectiveFit f;
    f.latency_s = ring_seconds(kind, 0, world, link);
    const double per_byte = ring_seconds(kind, 1e9, world, link) - f.latency_s;
    f.bytes_per_s = per_byte > 0 ? 1e9 / per_byte : 1e18;
    fits[kind] = f;
  }
  return fits;
}

CollectiveFit rescale_ring(const CollectiveFit& fit, const std::string& kind, int from, int to) {
  if (kind == "send_recv" || from == to || from < 2) return fit;
  CollectiveFit f = fit;
  if (to < 2) {
    f.latency_s = 0;
    f.bytes_per_s = 1e18;
    return f;
  }
  f.latency_s = fit.latency_s * (to - 1) / (from - 1);
  const double share_from = (from - 1.0) / from, share_to = (to - 1.0) / to;
  f.bytes_per_s = fit.bytes_per_s * share_from / share_to;
  return f;
}

}  // namespace parallax
