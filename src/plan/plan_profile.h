// Taking the profile `plan` prices with: in this process (one rank, or a world planned on paper),
// or inside every rank of a real world started by the launcher (local ranks on loopback), whose
// rank 0 writes it to OUT/profile.json.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "plan/block_profiler.h"
#include "plan/profile.h"

namespace parallax {

struct PlanModel;

struct ProfileJob {
  Config cfg;                 // the workload (threads resolved)
  int world = 1;              // ranks the world profile runs on (1: compute only)
  std::vector<int64_t> rows;  // micro-batch sizes the candidates need
  int64_t probe_rows = 1;     // the data-parallel share, for the slowdown and overlap probes
  std::string out_file;       // where rank 0 writes the profile
  // --recompute settings besides none whose block times the candidates need (full, selective).
  std::vector<std::string> recompute;
};

// The compute half, here: block times (also under each of job.recompute), loss, optimizer.
Profile profile_here(const ProfileJob& job, const PlanModel& m);

// In a rank of the launched world: the compute half on rank 0 alone (the others wait), then the
// world half on all; rank 0 writes job.out_file atomically.
void profile_in_rank(const ProfileJob& job);

// The probe over the plan's model, as the job runs it.
ComputeProbe probe_of(const ProfileJob& job, const PlanModel& m);

// A one-line progress note on stderr.
void plan_progress(const std::string& what);

}  // namespace parallax
