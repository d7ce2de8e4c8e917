// Timeline: events kept in memory, serialised once at the end of the run.
#include "metrics/timeline.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iterator>
#include <map>
#include <vector>

#include "metrics/atomic_file.h"
#include "metrics/system_info.h"

namespace parallax {
namespace {

double steady_us() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The collectives' lanes (Timeline::collective), in the order they are drawn.
const char* const kCommLaneNames[] = {"comm",   "comm 2", "comm 3", "comm 4",
                                      "comm 5", "comm 6", "comm 7", "comm 8"};

// A time on a grid of 2^-10 us (about a nanosecond). Two such times below 2^43 us (100 days)
// differ by an exact double, and start + (end - start) is exactly end again: a reader that adds
// "ts" and "dur" finds the span's true end, so spans that end together (a step and its last
// phase) still nest. Unrounded, start + (end - start) can miss end by one unit in the last place
// wherever end - start is not exact (start < end / 2: a run's first step).
double on_grid(double us) {
  return std::round(us * 1024.0) / 1024.0;
}

}  // namespace

Timeline::Timeline(int rank, size_t max_events)
    // On the grid too: a merged trace shifts every rank's spans by the difference of their
    // origins, which then keeps each span's end exact.
    : rank_(rank), max_events_(max_events), origin_us_(on_grid(steady_us())) {
  events_.reserve(std::min<size_t>(max_events, 4096));
  std::fill(std::begin(comm_free_at_), std::end(comm_free_at_), -1e300);
}

double Timeline::now_us() const {
  return steady_us() - origin_us_;
}

void Timeline::span(const char* lane, std::string name, double start_us, double end_us) {
  if (events_.size() >= max_events_) return;
  const double start = on_grid(start_us);
  events_.push_back({lane, std::move(name), start, on_grid(end_us) - start});
}

void Timeline::collective(std::string name, double start_us, double end_us) {
  static_assert(static_cast<int>(std::size(kCommLaneNames)) == kCommLanes);
  int lane = 0;
  for (int k = 0; k < kCommLanes; ++k) {
    if (start_us >= comm_free_at_[k]) {
      lane = k;
      break;
    }
    if (comm_free_at_[k] < comm_free_at_[lane]) lane = k;  // all busy: the one free soonest
  }
  comm_free_at_[lane] = std::max(comm_free_at_[lane], end_us);
  span(kCommLaneNames[lane], std::move(name), start_us, end_us);
}

void Timeline::write(const std::string& path) const {
  nlohmann::json events = nlohmann::json::array();
  // lane -> thread id: the step, compute and comm tracks first (top to bottom in Perfetto, which
  // orders a process's threads by their sort index), then the others in order of first use.
  std::map<std::string, int> lanes;
  std::vector<std::string> order;
  std::vector<const char*> first{"step", "compute"};
  first.insert(first.end(), std::begin(kCommLaneNames), std::end(kCommLaneNames));
  for (const char* lane : first)
    for (const auto& e : events_)
      if (e.lane == std::string(lane)) {
        order.push_back(lane);
        break;
      }
  for (const auto& e : events_)
    if (std::find(order.begin(), order.end(), e.lane) == order.end()) order.push_back(e.lane);
  events.push_back({{"ph", "M"},
                    {"name", "process_name"},
                    {"pid", rank_},
                    {"tid", 0},
                    {"args", {{"name", "rank " + std::to_string(rank_)}}}});
  for (const std::string& lane : order) {
    lanes.emplace(lane, static_cast<int>(lanes.size()));
    events.push_back({{"ph", "M"},
                      {"name", "thread_name"},
                      {"pid", rank_},
                      {"tid", lanes[lane]},
                      {"args", {{"name", lane}}}});
    events.push_back({{"ph", "M"},
                      {"name", "thread_sort_index"},
                      {"pid", rank_},
                      {"tid", lanes[lane]},
                      {"args", {{"sort_index", lanes[lane]}}}});
  }
  for (const auto& e : events_) {
    const auto it = lanes.find(e.lane);
    events.push_back({{"ph", "X"},
                      {"name", e.name},
                      {"cat", e.lane},
                      {"pid", rank_},
                      {"tid", it->second},
                      {"ts", e.start_us},
                      {"dur", e.dur_us}});
  }
  // steady_clock is one clock for every process of a machine: a merger lines ranks up with it.
  const nlohmann::json trace = {
      {"traceEvents", events},
      {"displayTimeUnit", "ms"},
      {"otherData", {{"steady_origin_us", origin_us_}, {"host", host_name()}}}};
  write_file_atomic(path, trace.dump() + "\n");
}

}  // namespace parallax
