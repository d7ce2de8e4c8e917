// Trace merge: one run's per-rank Chrome traces (trace/rank<R>.json) as one trace for Perfetto.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace parallax {

// Merges rank traces given in rank order. When every one carries otherData.steady_origin_us and
// all name the same host, each rank's timestamps are shifted by (its origin - the smallest) so
// the ranks line up in time; otherwise they are left as recorded (each from its own start) and
// otherData.aligned says why. Pure.
nlohmann::json merge_rank_traces(const std::vector<nlohmann::json>& ranks);

// The rank trace files of a run directory, in rank order ("" dir or none: empty).
std::vector<std::string> rank_trace_files(const std::string& run_dir);

// Reads run_dir/trace/rank*.json and writes the merged trace to out_path atomically. Returns
// false (writing nothing) when the run has no readable rank trace; unreadable rank files are
// skipped and listed in otherData.skipped.
bool merge_run_trace(const std::string& run_dir, const std::string& out_path);

}  // namespace parallax
