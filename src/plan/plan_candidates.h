// The candidates `plan` prices for a world: single; ddp (overlapped, not, and a smaller bucket);
// zero 1/2/3; model; pipeline under every schedule at several micro-batch counts; hybrid dp x pp
// where the world allows. Each with the cut it would train with (balanced on the profiled block
// times) and the `parallax train` options that run it. Pure.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "plan/cost_model.h"
#include "plan/profile.h"

namespace parallax {

struct CandidateSpace {
  int world = 2;
  int64_t batch = 32;
  std::vector<std::string> strategies;  // empty: all of single ddp zero model pipeline hybrid
  std::vector<int> micro_batches;       // empty: world, 2 x world and 4 x world
  double bucket_mb = 25, tail_bucket_mb = 1;
  bool wire_bf16 = false;
  bool reshard_after_forward = true;
  // --recompute settings: each candidate once per setting; "none" first, unlabelled.
  std::vector<std::string> recompute = {"none"};
};

// The strategy names a CandidateSpace takes.
const std::vector<std::string>& plan_strategy_names();

// Each strategy's candidates under every recompute setting of the space: the same cut, labelled
// "LABEL recompute MODE" and run with --recompute MODE (none: as it is).
// Uses profile's block times (at each candidate's micro-batch size; what it lacks is
// interpolated) to balance the pipelines' pieces. Candidates that cannot run (a batch that does
// not split, more pieces than blocks, a schedule's own condition) are left out.
std::vector<PlanCandidate> plan_candidates(const CandidateSpace& space, const Profile& profile);

// Leaves out of space.recompute the settings `profile` has no block times under (a
// --device-profile taken without them), each said in one line on stderr; UserError if none is
// left.
void keep_profiled_recompute(CandidateSpace& space, const Profile& profile);

// The micro-batch sizes `candidates` need block times at, ascending, each once.
std::vector<int64_t> candidate_rows_needed(const std::vector<PlanCandidate>& candidates,
                                           int64_t batch);

}  // namespace parallax
