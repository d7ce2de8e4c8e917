// One collective issued through the collectives layer: its purpose marked (issuing.h), the test
// hook that plants a hang consulted, and the call recorded in the flight recorder, with its
// completion observed where the host sees it at no cost. Only that layer's sources include this.
#pragma once
#include <torch/types.h>

#include <vector>

#include "distributed/flight_recorder.h"
#include "distributed/issuing.h"
#include "distributed/torch_compat.h"

namespace parallax {

// PARALLAX_TEST_SKIP_COLLECTIVE=RANK:N:PURPOSE (tests only): the rank RANK (the launcher's RANK)
// never issues the Nth collective (from 1) with that purpose and hangs there instead, as a rank
// deadlocked inside parallax would, its heartbeat going on. Returns at once otherwise.
void hang_if_planted(const char* purpose);

// The call's record: sizes from `tensors` (the first one's dtype).
FlightCall flight_call(const compat::Group& group, FlightOp op, const char* purpose,
                       const std::vector<torch::Tensor>& tensors, int peer = -1);

// Marks `id` completed (or failed) when `work` completes, where the host learns it without
// waiting: Gloo's and MPI's futures complete when the work has; NCCL's as soon as it is queued
// on the stream, so there the entry says "enqueued". Gloo's sends and receives have no future:
// they come back wrapped, and complete when their wait() returns or isCompleted() says so.
compat::Work watch_completion(const compat::Group& group, FlightOp op, compat::Work work,
                              uint64_t id);

// Issues through issue() (which returns the Work) under the purpose, recorded.
template <class Issue>
compat::Work issue_recorded(const FlightCall& call, const compat::Group& group, Issue&& issue) {
  hang_if_planted(call.purpose);
  const Issuing issuing(call.purpose);
  const uint64_t id = flight_recorder().issued(call);
  compat::Work work;
  try {
    work = issue();
  } catch (...) {
    flight_recorder().mark(id, FlightState::kFailed);
    throw;
  }
  return watch_completion(group, call.op, std::move(work), id);
}

// The same for a call that waits before it returns (barrier, the coalesced broadcast).
template <class Issue>
void issue_recorded_and_wait(const FlightCall& call, Issue&& issue) {
  hang_if_planted(call.purpose);
  const Issuing issuing(call.purpose);
  const uint64_t id = flight_recorder().issued(call);
  try {
    issue();
  } catch (...) {
    flight_recorder().mark(id, FlightState::kFailed);
    throw;
  }
  flight_recorder().mark(id, FlightState::kCompleted);
}

}  // namespace parallax
