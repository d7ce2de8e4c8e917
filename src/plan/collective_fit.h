// Collective cost models: a least-squares fit of latency + bytes / bandwidth to measured timings,
// and the closed forms of ring collectives over a link, for worlds larger than the one measured.
// Pure.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "plan/profile.h"

namespace parallax {

// (bytes, seconds) samples of one collective; the fit minimises the squared relative error, so
// that the small messages' latency counts as much as the large ones' bandwidth. Latency is kept
// >= 0 and bandwidth > 0. At least two distinct sizes, else std::invalid_argument.
CollectiveFit fit_collective(const std::vector<std::pair<double, double>>& samples);

// A link: per-message latency and bytes per second each rank can send (and receive) at once.
struct Link {
  double latency_s = 0;
  double bytes_per_s = 1e18;
};

// Ring collectives on `world` ranks over `link`, for `bytes` of the whole tensor on each rank:
// all-reduce 2(N-1)/N * S/B + 2(N-1) latencies; reduce-scatter and all-gather (N-1)/N * S/B +
// (N-1) latencies; send/recv S/B + one latency.
double ring_seconds(const std::string& kind, double bytes, int world, const Link& link);

// Fits equivalent to the ring forms at `world` (latency and bandwidth per kind), so a profile can
// stand for a machine that was not measured.
std::map<std::string, CollectiveFit> ring_fits(int world, const Link& link);

// A fit measured on `from` ranks as the ring forms carry it to `to` ranks (latency by the steps'
// count, bandwidth by the share each rank sends); send/recv does not change.
CollectiveFit rescale_ring(const CollectiveFit& fit, const std::string& kind, int from, int to);

// "all_reduce", "reduce_scatter", "all_gather", "send_recv".
const std::vector<std::string>& collective_kinds();

}  // namespace parallax
