// Stragglers: each rank's step split into the time it works (compute, the loop's own work) and
// the time it waits on the others (exposed communication, a pipeline's idle time), and the rank
// whose work sets every other rank's wait. Pure: the records are the trainer's, the gather is the
// caller's (train/run_outputs.cpp).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "metrics/percentiles.h"

namespace parallax {

struct StepRecord;

// One rank's timed steps (after the warm-up): median and p90, with p10 kept for the separation
// test below.
struct RankTiming {
  Percentiles step_s;  // the whole step, as the trainer times it
  Percentiles work_s;  // step less wait: computing, or anything else this rank does alone
  Percentiles wait_s;  // waiting on other ranks: exposed communication and idle time
};

// From one rank's step records, those at or after step `warmup`.
RankTiming rank_timing(const std::vector<StepRecord>& steps, int64_t warmup);

struct Straggler {
  int rank = 0;
  double work_ratio = 1;            // its median work over the median rank's
  double others_wait_fraction = 0;  // the other ranks' median share of their step spent waiting
  std::string reading;              // "rank 3 works 1.4x the median rank; the others wait ..."
};

// The slowest rank, where its work stands apart beyond the ranks' own step-to-step noise: its
// fastest tenth of steps (p10) slower than the median rank's slowest tenth (p90), and at least
// 10% slower at the median. The median rank is the lower median of the ranks' median work (with
// two ranks, the other one). None for one rank, or where the spread is within noise.
std::optional<Straggler> find_straggler(const std::vector<RankTiming>& ranks);

}  // namespace parallax
