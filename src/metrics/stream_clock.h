// StreamClock: when work on a rank's device really happened, for comm, wait and bubble figures.
// On the CPU a mark is the host clock; on CUDA it is an event on a stream, because kernels and
// NCCL collectives run after the host has queued them (c10d's NCCL work counts as complete once
// queued, so host clocks would give about 0 communication time). Marks are read once per step,
// by resolve(), after the step's own sync: no host sync is added to the hot path.
#pragma once
#include <memory>

#include "distributed/torch_compat.h"

namespace c10 {
struct Device;
}

namespace parallax {

class StreamClock {
 public:
  explicit StreamClock(const c10::Device& device);
  ~StreamClock();
  StreamClock(const StreamClock&) = delete;
  StreamClock& operator=(const StreamClock&) = delete;

  // The step's origin: forgets the marks of the last step.
  void begin();
  // When the work queued so far on the current stream is done (CPU: now).
  int mark();
  // When `work` finishes. NCCL (device_work): an event on a side stream made to wait for the
  // collective, so the host never blocks. Gloo and the CPU: the host time its future completes.
  int mark_done(const compat::Work& work, bool device_work);
  // Reads every mark; waits for the last ones if the device has not reached them yet.
  void resolve();
  // Seconds from begin() to the mark (after resolve()).
  double at(int mark) const;
  bool on_device() const;
  // The host's steady_clock time at begin(), in seconds since its epoch.
  double origin_host_s() const;
  // Seconds from ref's origin to this clock's (negative if this one began first), after both
  // origins have been reached. Two device clocks: from their origin events (recorded on the same
  // stream, so the device's lag behind the host cancels out); otherwise from the host times.
  double seconds_since(const StreamClock& ref) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parallax
