// A rank's Chrome trace (trace/rank<R>.json) read back as spans, and the time a set of them covers.
#pragma once
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace parallax::testing {

struct Span {
  std::string lane, name;
  double start = 0, end = 0;  // microseconds
};

// The complete ("X") events, each with its lane (the thread name).
inline std::vector<Span> spans_of(const std::string& path) {
  const auto trace = nlohmann::json::parse(read_text(path));
  std::map<int, std::string> lanes;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "thread_name")
      lanes[e["tid"].get<int>()] = e["args"]["name"];
  std::vector<Span> spans;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X") {
      const double ts = e["ts"].get<double>();
      spans.push_back({lanes[e["tid"].get<int>()], e["name"], ts, ts + e["dur"].get<double>()});
    }
  return spans;
}

// Seconds covered by the union of the spans.
inline double union_seconds(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.start < b.start; });
  double covered = 0, to = -1e300;
  for (const auto& s : spans) {
    const double from = std::max(s.start, to);
    if (s.end > from) covered += s.end - from;
    to = std::max(to, s.end);
  }
  return covered * 1e-6;
}

// A span on one lane that overlaps another without containing it or lying inside it, which a
// Chrome trace viewer cannot draw (Perfetto drops it); "" when every lane nests.
inline std::string misnested(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.lane != b.lane     ? a.lane < b.lane
           : a.start != b.start ? a.start < b.start
                                : a.end > b.end;
  });
  constexpr double kSlack = 1e-3;  // microseconds: JSON's rounding
  std::vector<const Span*> open;
  for (const Span& s : spans) {
    while (!open.empty() && (open.back()->lane != s.lane || open.back()->end <= s.start + kSlack))
      open.pop_back();
    if (!open.empty() && s.end > open.back()->end + kSlack)
      return s.lane + ": " + s.name + " overlaps " + open.back()->name;
    open.push_back(&s);
  }
  return "";
}

inline bool on_comm_lane(const Span& s) {  // "comm", "comm 2", ...
  return s.lane.rfind("comm", 0) == 0;
}

}  // namespace parallax::testing
