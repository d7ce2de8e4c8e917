// StepTrace: the step's marks as pairs of (name, mark), laid on the timeline at the step's end.
#include "metrics/step_trace.h"

#include <string>

namespace parallax {

StepTrace::StepTrace(int rank, const c10::Device& device) : timeline_(rank), clock_(device) {
  phases_.reserve(16);
}

double StepTrace::base_us(const StreamClock& clock) const {
  if (!begun_ || &clock == &clock_) return timeline_.us_at(clock.origin_host_s());
  return timeline_.us_at(clock_.origin_host_s()) + clock.seconds_since(clock_) * 1e6;
}

void StepTrace::begin_step() {
  phases_.clear();
  clock_.begin();
  begun_ = true;
  in_step_ = true;
  phases_.push_back({nullptr, clock_.mark()});
}

void StepTrace::phase(const char* name) {
  if (!in_step_) return;
  phases_.push_back({name, clock_.mark()});
}

void StepTrace::boundary() {
  if (!in_step_) return;
  phases_.push_back({nullptr, clock_.mark()});
}

void StepTrace::end_step() {
  if (!in_step_) return;
  in_step_ = false;
  const int64_t step = step_++;
  if (timeline_.full()) return;
  clock_.resolve();
  const double base = base_us(clock_);
  for (size_t i = 1; i < phases_.size(); ++i)
    if (phases_[i].name)
      timeline_.span("compute", phases_[i].name, base + clock_.at(phases_[i - 1].mark) * 1e6,
                     base + clock_.at(phases_[i].mark) * 1e6);
  timeline_.span("step", "step " + std::to_string(step),
                 base + clock_.at(phases_.front().mark) * 1e6,
                 base + clock_.at(phases_.back().mark) * 1e6);
}

}  // namespace parallax
