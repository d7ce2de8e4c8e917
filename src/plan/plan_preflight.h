// What `plan` checks before any work: the world it can run, --check and --strategies, and that
// some candidate runs the batch at all. Each says what is wrong in a UserError.
#pragma once
#include <vector>

#include "config/config.h"
#include "plan/cost_model.h"
#include "plan/plan_candidates.h"
#include "plan/plan_command.h"

namespace parallax {

// More ranks than this machine runs are planned on paper only.
void check_world_runs_here(int world, int cores, bool paper);

// A bad --check, or one given for a plan on paper (nothing here to run it on).
void check_check_option(const PlanOptions& opts, bool paper);

// The candidates' grid from the options; an unknown name in --strategies is an error.
CandidateSpace candidate_space_of(const PlanOptions& opts, const Config& cfg, int world);

// `stub`: the candidates planned on parameter counts; none means nothing runs the batch.
void check_some_candidate_runs(const std::vector<PlanCandidate>& stub, const PlanOptions& opts,
                               const Config& cfg, int world);

}  // namespace parallax
