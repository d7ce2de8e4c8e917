// StepTrace: a rank's training steps on its timeline (trace/rank<R>.json). Each step is cut into
// phases (forward, backward, optimizer ...) by marks of a StreamClock, so on a GPU a phase is when
// the device ran it (CUDA events), not when the host queued it. Marks are read once per step,
// after the step's own host sync: tracing adds no sync. Its cost is a few clock marks and one
// small string per span (none once the timeline is full).
#pragma once
#include <cstdint>
#include <vector>

#include "metrics/stream_clock.h"
#include "metrics/timeline.h"

namespace parallax {

class StepTrace {
 public:
  StepTrace(int rank, const c10::Device& device);

  Timeline& timeline() { return timeline_; }
  // Where the origin of another clock of this rank (the reducer's, a pipeline stage's) lies on the
  // timeline, in microseconds: placed against this trace's step clock (StreamClock::seconds_since:
  // on a GPU from the two origin events, so both clocks' spans line up). Call after the step's
  // sync; before any step, the clock's own host time is used.
  double base_us(const StreamClock& clock) const;

  void begin_step();
  // The phase since the last boundary ends now, and is called `name` (a literal: kept as is).
  void phase(const char* name);
  // Now is a boundary, without a span before it (time another trace part draws, e.g. a wait).
  void boundary();
  // After the step's host sync: lays the step's phases on lane "compute" and the whole step,
  // "step N", on lane "step".
  void end_step();

 private:
  Timeline timeline_;
  StreamClock clock_;
  struct Phase {
    const char* name;  // nullptr: a boundary without a span
    int mark;
  };
  std::vector<Phase> phases_;
  bool in_step_ = false;
  bool begun_ = false;  // the step clock has an origin
  int64_t step_ = 0;
};

}  // namespace parallax
