// Trace merge: ranks' events concatenated; timestamps aligned on the shared steady clock.
#include "report/trace_merge.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics/atomic_file.h"

namespace parallax {
namespace {

namespace fs = std::filesystem;

// The rank number of a file named rank<R>.json; -1 for any other name.
int rank_of(const std::string& file_name) {
  const std::string prefix = "rank", suffix = ".json";
  if (file_name.size() <= prefix.size() + suffix.size() || file_name.rfind(prefix, 0) != 0 ||
      file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits =
      file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stoi(digits);
}

const nlohmann::json* other_data(const nlohmann::json& trace) {
  if (!trace.is_object() || !trace.contains("otherData") || !trace["otherData"].is_object())
    return nullptr;
  return &trace["otherData"];
}

}  // namespace

nlohmann::json merge_rank_traces(const std::vector<nlohmann::json>& ranks) {
  // Ranks' clocks share an origin only on one host: steady_clock is per machine.
  std::vector<double> origins;
  std::string host, why;
  for (size_t i = 0; i < ranks.size() && why.empty(); ++i) {
    const nlohmann::json* other = other_data(ranks[i]);
    if (!other || !other->contains("steady_origin_us") ||
        !(*other)["steady_origin_us"].is_number()) {
      why = "rank trace " + std::to_string(i) + " has no otherData.steady_origin_us";
      break;
    }
    const std::string h = other->value("host", std::string());
    if (i == 0) host = h;
    if (h != host) why = "ranks ran on different hosts (" + host + ", " + h + ")";
    origins.push_back((*other)["steady_origin_us"].get<double>());
  }
  const bool aligned = why.empty() && !ranks.empty();
  const double first = aligned ? *std::min_element(origins.begin(), origins.end()) : 0.0;

  nlohmann::json events = nlohmann::json::array();
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (!ranks[i].is_object() || !ranks[i].contains("traceEvents") ||
        !ranks[i]["traceEvents"].is_array())
      continue;
    const double shift = aligned ? origins[i] - first : 0.0;
    for (nlohmann::json e : ranks[i]["traceEvents"]) {
      if (shift != 0 && e.is_object() && e.contains("ts") && e["ts"].is_number())
        e["ts"] = e["ts"].get<double>() + shift;
      events.push_back(std::move(e));
    }
  }
  nlohmann::json other = {{"ranks", ranks.size()}, {"aligned", aligned}};
  if (aligned) {
    other["host"] = host;
    other["steady_origin_us"] = first;
  } else if (!why.empty()) {
    other["not_aligned_because"] = why;
  }
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", other}};
}

std::vector<std::string> rank_trace_files(const std::string& run_dir) {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  if (run_dir.empty() || !fs::is_directory(fs::path(run_dir) / "trace", ec)) return {};
  for (const auto& entry : fs::directory_iterator(fs::path(run_dir) / "trace", ec)) {
    const int rank = rank_of(entry.path().filename().string());
    if (rank >= 0 && entry.is_regular_file(ec)) found.emplace_back(rank, entry.path().string());
  }
  std::sort(found.begin(), found.end());  // rank 10 after rank 9, not after rank 1
  std::vector<std::string> files;
  for (auto& f : found) files.push_back(std::move(f.second));
  return files;
}

bool merge_run_trace(const std::string& run_dir, const std::string& out_path) {
  std::vector<nlohmann::json> traces;
  nlohmann::json skipped = nlohmann::json::array();
  for (const std::string& file : rank_trace_files(run_dir)) {
    std::ifstream in(file);
    nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    // A rank that died mid-write leaves no file (writes are atomic), but a file from another
    // tool may be anything: skip what is not a trace rather than lose the whole report.
    if (j.is_discarded() || !j.is_object() || !j.contains("traceEvents")) {
      skipped.push_back(fs::path(file).filename().string());
      continue;
    }
    traces.push_back(std::move(j));
  }
  if (traces.empty()) return false;
  nlohmann::json merged = merge_rank_traces(traces);
  if (!skipped.empty()) merged["otherData"]["skipped"] = skipped;
  write_file_atomic(out_path, merged.dump() + "\n");
  return true;
}

}  // namespace parallax
