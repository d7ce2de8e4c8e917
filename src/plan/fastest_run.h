// The profilers' timing rule: wall-clock seconds of a run, and the fastest of several runs (on a
// shared machine interference only ever adds time, so the fastest is the least disturbed).
#pragma once
#include <algorithm>
#include <chrono>
#include <vector>

namespace parallax {

using ProfileClock = std::chrono::steady_clock;

inline double seconds_since(ProfileClock::time_point t0) {
  return std::chrono::duration<double>(ProfileClock::now() - t0).count();
}

inline double fastest(const std::vector<double>& runs) {
  return runs.empty() ? 0 : *std::min_element(runs.begin(), runs.end());
}

}  // namespace parallax
