// The multi-rank half of `plan`'s profile, run inside every rank of a real world (the launcher's
// ranks on loopback, or any torchrun/Slurm world): the slowdown when k ranks compute at once,
// the compute lost to a collective running beside it, and each collective's timings at a few
// message sizes, fitted to latency + bytes / bandwidth.
#pragma once
#include <functional>
#include <string>

#include "plan/block_profiler.h"

namespace parallax {

struct DistContext;

// Fills slowdown (1..world ranks busy), comm_compute_share, collectives and collectives_world.
// `rows`: the micro-batch the slowdown probe runs (the data-parallel share of the batch).
// `progress` is called on rank 0 only. Every rank waits at the start until all have called it.
void profile_world(DistContext& ctx, const ComputeProbe& probe, int64_t rows, Profile& out,
                   const std::function<void(const std::string&)>& progress);

}  // namespace parallax
