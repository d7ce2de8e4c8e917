// Elastic restarts: the job's progress in the agent's store, and the fault used to test them.
#include "train/elastic.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace parallax {
namespace {

constexpr const char* kBeganKey = "began";
constexpr const char* kFurthestKey = "furthest_step";
constexpr const char* kRedoneKey = "steps_redone";

int64_t read_count(c10d::Store& store, const std::string& key) {
  if (!store.check({key})) return 0;
  const auto v = store.get(key);
  return std::stoll(std::string(v.begin(), v.end()));
}

}  // namespace

ElasticProgress::ElasticProgress(c10d::Store& job_store)
    : store_(job_store),
      began_(job_store.check({kBeganKey})),
      furthest_(read_count(job_store, kFurthestKey)),
      redone_(read_count(job_store, kRedoneKey)) {}

void ElasticProgress::mark_began() {
  if (!began_) store_.set(kBeganKey, std::vector<uint8_t>{1});
  began_ = true;
}

void ElasticProgress::step_finished(int64_t steps_done) {
  // Counted as they happen, so an attempt that dies before its first step counts nothing twice.
  if (steps_done <= furthest_) {
    redone_ = store_.add(kRedoneKey, 1);
    return;
  }
  furthest_ = steps_done;
  const std::string v = std::to_string(steps_done);
  store_.set(kFurthestKey, std::vector<uint8_t>(v.begin(), v.end()));
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

void kill_in_save_if_fault_injected(int rank, int64_t step) {
  static const char* fault = std::getenv("PARALLAX_FAULT_KILL_IN_SAVE");
  int fault_rank = -1;
  long long fault_step = -1;
  if (fault == nullptr || std::sscanf(fault, "%d:%lld", &fault_rank, &fault_step) != 2) return;
  if (fault_rank != rank || fault_step != step) return;
  std::fprintf(stderr, "PARALLAX_FAULT_KILL_IN_SAVE: rank %d kills itself in the checkpoint of "
               "step %lld\n", rank, fault_step);
  std::fflush(stderr);
  std::raise(SIGKILL);
}

}  // namespace parallax
