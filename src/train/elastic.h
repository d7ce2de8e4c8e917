// Elastic restarts under torchrun --max-restarts: what one attempt leaves for the next (the last
// step it finished, in the agent's store) and what a restarted attempt records of it.
#pragma once
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <cstdint>

#include "distributed/rank_env.h"
#include "metrics/train_records.h"

namespace parallax {

// Rank 0, after each step of an elastic run: the step it finished, in the job's store (one small
// write; the store is the agent's, which outlives the attempt).
void note_step_finished(c10d::Store& job_store, int64_t steps_done);

// A restarted attempt, after resuming state from the latest checkpoint (rank 0 only): counts the
// steps the failed attempts finished beyond it as redone (summed over every restart, in the
// store) and sets state.restarts and state.steps_redone.
void record_restart(c10d::Store& job_store, const RankEnv& env, TrainState& state);

// Tests: PARALLAX_FAULT_KILL="RANK:STEP" makes that rank SIGKILL itself once it has finished
// STEP steps, in the first attempt only (a restarted attempt goes past that step).
void kill_if_fault_injected(int rank, const RankEnv* env, int64_t steps_done);

}  // namespace parallax
