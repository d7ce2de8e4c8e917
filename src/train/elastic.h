// Elastic restarts under torchrun --max-restarts: what one attempt leaves for the next in the
// agent's store (that this job began the run folder, the furthest step any attempt finished, the
// steps trained again), and the fault that tests them.
#pragma once
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <cstdint>

#include "distributed/rank_env.h"

namespace parallax {

// Rank 0's view of the job across attempts, kept in the job store (the agent's, which outlives
// every attempt). One small store write per step.
class ElasticProgress {
 public:
  explicit ElasticProgress(c10d::Store& job_store);
  // An earlier attempt of this job prepared the run folder: a checkpoint there is this job's own,
  // never a folder of another run that --out happened to name.
  bool began() const { return began_; }
  void mark_began();
  // After each finished step: a step at or below the furthest any attempt finished is redone.
  void step_finished(int64_t steps_done);
  int64_t steps_redone() const { return redone_; }

 private:
  c10d::Store& store_;
  bool began_ = false;
  int64_t furthest_ = 0, redone_ = 0;
};

// Tests: PARALLAX_FAULT_KILL="RANK:STEP" makes that rank SIGKILL itself once it has finished
// STEP steps, in the first attempt only (a restarted attempt goes past that step).
void kill_if_fault_injected(int rank, const RankEnv* env, int64_t steps_done);
// Test hook: PARALLAX_FAULT_KILL_IN_SAVE=RANK:STEP makes that rank SIGKILL itself inside the
// sharded checkpoint of that step, once its own pieces are on disk and before the checkpoint is
// marked complete.
void kill_in_save_if_fault_injected(int rank, int64_t step);

}  // namespace parallax
