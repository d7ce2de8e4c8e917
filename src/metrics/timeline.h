// Timeline: one rank's timed events (compute, send/recv waits, collectives) written as a Chrome
// trace (trace/rank<R>.json) that Perfetto and chrome://tracing open.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace parallax {

class Timeline {
 public:
  // Keeps at most max_events (the first ones): a trace is for looking at a few steps.
  Timeline(int rank, size_t max_events = 20000);

  double now_us() const;  // microseconds since the timeline was made
  // A steady_clock time, in seconds since its epoch, as microseconds on this timeline.
  double us_at(double steady_s) const { return steady_s * 1e6 - origin_us_; }
  // A finished span on a lane ("compute", "recv", ...). Cheap: no allocation once the event
  // storage has grown, and none at all past max_events.
  void span(const char* lane, std::string name, double start_us, double end_us);
  // A collective from launch to completion. Collectives overlap one another (a bucket is launched
  // before the last one completes), and a Chrome trace's spans on one thread must nest, so each
  // goes on the first of the lanes "comm", "comm 2", ... "comm 8" that is free at its start.
  void collective(std::string name, double start_us, double end_us);
  size_t size() const { return events_.size(); }
  bool full() const { return events_.size() >= max_events_; }  // span() keeps no more

  // Chrome trace JSON ("traceEvents": complete events, one thread per lane), atomically.
  void write(const std::string& path) const;

 private:
  struct Event {
    const char* lane;
    std::string name;
    double start_us, dur_us;
  };
  int rank_;
  size_t max_events_;
  double origin_us_;
  std::vector<Event> events_;
  static constexpr int kCommLanes = 8;
  double comm_free_at_[kCommLanes];  // per comm lane: the end of its latest span
};

}  // namespace parallax
