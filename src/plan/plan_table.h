// A plan's rows: each candidate's prediction (time and memory), whether it fits the budget, its
// place in the ranking, and after --check what it measured; printed as a table and written as
// plan.json.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "plan/cost_model.h"
#include "plan/memory_model.h"

namespace parallax {

struct PlanRow {
  PlanCandidate candidate;
  PredictedStep predicted;
  std::vector<PredictedMemory> memory;  // per rank (data-parallel ranks alike: one entry each)
  int64_t peak_bytes = 0;               // the largest rank's predicted peak
  bool fits = true;                     // peak_bytes <= the budget
  int place = 0;                        // 1 = recommended
  bool checked = false;                 // --check ran it
  double measured_step_s = 0, measured_images_per_sec = 0;
  int64_t measured_peak_bytes = 0;      // the largest rank's allocator peak
  int measured_rounds = 0;              // check rounds that finished
  // The machine's reference probe around the best round, over its time at profiling: 1.1 means
  // the shared machine ran 10% slower then (1 when not probed).
  double measured_drift = 1;
  std::string check_error;              // a failed check run's reason
};

struct PlanHeader {
  std::string model, precision, device, profile_source, scale;  // scale: "measured" or "prediction"
  int world = 1, threads = 1;
  int64_t batch = 0;
  double budget_bytes = 0;
  std::string rate_unit = "img/s";  // what a sample is per second: img/s, or seq/s (text windows)
  bool check_interrupted = false;  // --check was stopped: the rows checked are those it ran
};

// Ranks rows in place: those that fit first, each group by predicted step time.
void rank_rows(std::vector<PlanRow>& rows);

// The ranked table with each row's reason, and the recommendation in one line.
void print_plan(const PlanHeader& h, const std::vector<PlanRow>& rows);

nlohmann::json plan_json(const PlanHeader& h, const std::vector<PlanRow>& rows);

// After --check: predicted against measured, each error, and the median and worst; and the
// measured fastest, unless the check was interrupted (`partial`): no verdict from some rows.
void print_check(const std::vector<PlanRow>& rows, bool partial = false);

// |predicted - measured| / measured of the checked rows' step times; with drift_corrected, the
// prediction is first scaled by the row's measured drift.
std::vector<double> step_errors(const std::vector<PlanRow>& rows, bool drift_corrected = false);

}  // namespace parallax
