// Elastic restarts: progress marks in the agent's store, steps redone, and the fault used to test them.
#include "train/elastic.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace parallax {
namespace {

constexpr const char* kLastStepKey = "last_step";
constexpr const char* kRedoneKey = "steps_redone";

std::vector<uint8_t> bytes_of(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

}  // namespace

void note_step_finished(c10d::Store& job_store, int64_t steps_done) {
  job_store.set(kLastStepKey, bytes_of(std::to_string(steps_done)));
}

void record_restart(c10d::Store& job_store, const RankEnv& env, TrainState& state) {
  state.restarts = env.restart_count;
  int64_t reached = state.step;
  if (job_store.check({kLastStepKey})) {
    const auto v = job_store.get(kLastStepKey);
    reached = std::stoll(std::string(v.begin(), v.end()));
  }
  // add() keeps the sum over restarts even when a later attempt resumes from an older checkpoint
  // than the steps counted so far (state.steps_redone is the checkpoint's).
  state.steps_redone = job_store.add(kRedoneKey, std::max<int64_t>(0, reached - state.step));
  note_step_finished(job_store, state.step);
}

void kill_if_fault_injected(int rank, const RankEnv* env, int64_t steps_done) {
  static const char* fault = std::getenv("PARALLAX_FAULT_KILL");
  if (fault == nullptr || (env && env->restart_count > 0)) return;
  int fault_rank = -1;
  long long fault_step = -1;
  if (std::sscanf(fault, "%d:%lld", &fault_rank, &fault_step) != 2) return;
  if (fault_rank != rank || fault_step != steps_done) return;
  std::fprintf(stderr, "PARALLAX_FAULT_KILL: rank %d kills itself after step %lld\n", rank,
               fault_step);
  std::fflush(stderr);
  std::raise(SIGKILL);
}

}  // namespace parallax
