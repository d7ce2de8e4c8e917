// MemoryProbe: differences of the allocator's count between a step's phase points.
#include "metrics/memory_probe.h"

#include <algorithm>

#include "metrics/heap.h"

namespace parallax {

int64_t MemoryProbe::now() {
  const int64_t bytes = allocated_bytes(device_);
  peak_ = std::max(peak_, bytes);
  step_peak_ = std::max(step_peak_, bytes);
  return bytes;
}

void MemoryProbe::model_built(int64_t before_model_bytes, int64_t parameter_storage_bytes) {
  before_model_ = before_model_bytes;
  parameters_ = parameter_storage_bytes;
  now();
}

void MemoryProbe::step_begin() {
  if (!probing()) return;
  if (device_.is_cuda()) reset_peak_allocated(device_);  // the step's own peak, from here
  step_peak_ = -1;
  step_begin_ = now();
}

void MemoryProbe::forward_end(int64_t not_activations) {
  if (probing() && step_begin_ >= 0) activations(now() - step_begin_ - not_activations);
}

void MemoryProbe::activations(int64_t bytes) {
  if (!probing()) return;
  activations_ = bytes;  // the last probed step's: the first one's include one-off caches
  if (step_begin_ >= 0) step_peak_ = std::max(step_peak_, step_begin_ + bytes);  // seen between
}

void MemoryProbe::backward_end() {
  if (!probing() || step_begin_ < 0) return;
  backward_end_ = now();
  last_gradients_ = backward_end_ - step_begin_;
}

void MemoryProbe::optimizer_end(int64_t optimizer_state_bytes) {
  if (!probing()) return;
  optimizer_state_ = optimizer_state_bytes;  // created in the first step (SGD momentum, Adam)
  now();
}

void MemoryProbe::sample() {
  if (probing()) now();
}

void MemoryProbe::step_end() {
  if (!probing()) return;
  now();
  // The allocator's peak within this step (from step_begin()'s reset): construction's transients
  // and a resume's checkpoint load came before it and are not this step's.
  if (device_.is_cuda()) step_peak_ = std::max(step_peak_, peak_allocated_in_window(device_));
  ++step_;
}

MeasuredMemory MemoryProbe::result() const {
  MeasuredMemory m;
  if (before_model_ < 0 || parameters_ < 0) return m;
  m.parameters = parameters_ + gathered_;
  if (step_ == 0) return m;
  m.gradients = gradients_ >= 0 ? gradients_ : std::max<int64_t>(0, last_gradients_);
  m.optimizer_state = std::max<int64_t>(0, optimizer_state_);
  m.activations = std::max<int64_t>(0, activations_);
  m.peak = step_peak_ - before_model_;
  m.other = std::max<int64_t>(0, m.peak - m.parameters - m.gradients - m.optimizer_state -
                                     m.activations);
  return m;
}

}  // namespace parallax
