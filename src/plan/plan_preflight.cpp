// The checks plan_main makes before it builds or profiles anything.
#include "plan/plan_preflight.h"

#include <algorithm>
#include <sstream>
#include <string>

#include "config/user_error.h"
#include "plan/plan_check.h"

namespace parallax {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

void check_world_runs_here(int world, int cores, bool paper) {
  constexpr int kRanksPerCore = 4;
  if (!paper && world > kRanksPerCore * cores)
    throw UserError("--world " + std::to_string(world) + ": more ranks than this machine runs (" +
                    std::to_string(cores) + " cores); to plan it on paper give --link-bandwidth " +
                    "GB/s and --link-latency us (and --device-profile FILE for another device)");
}

void check_check_option(const PlanOptions& opts, bool paper) {
  if (!opts.check.empty()) rows_to_check({}, opts.check);  // a bad K is said before any work
  if (!opts.check.empty() && paper)
    throw UserError(
        "--check: this plan is for a machine not measured here (--link-bandwidth or "
        "--device-profile); check a plan of this machine's own world");
}

CandidateSpace candidate_space_of(const PlanOptions& opts, const Config& cfg, int world) {
  CandidateSpace space;
  space.world = world;
  space.batch = cfg.batch_size;
  space.strategies = split_list(opts.strategies);
  for (const auto& s : space.strategies)
    if (std::find(plan_strategy_names().begin(), plan_strategy_names().end(), s) ==
        plan_strategy_names().end())
      throw UserError("--strategies: unknown strategy '" + s +
                      "'; use single, ddp, zero, model, pipeline or hybrid");
  space.micro_batches = opts.micro_batches;
  space.bucket_mb = cfg.bucket_mb;
  space.tail_bucket_mb = cfg.tail_bucket_mb;
  space.wire_bf16 = cfg.grad_reduce_dtype == "bf16";
  space.reshard_after_forward = cfg.reshard_after_forward;
  return space;
}

void check_some_candidate_runs(const std::vector<PlanCandidate>& stub, const PlanOptions& opts,
                               const Config& cfg, int world) {
  if (!stub.empty()) return;
  const std::string which =
      opts.strategies.empty() ? std::string() : " of --strategies " + opts.strategies;
  throw UserError("plan: no strategy" + which + " runs batch " + std::to_string(cfg.batch_size) +
                  " on " + std::to_string(world) +
                  " ranks (a batch that does not split over them, or more stages than " +
                  cfg.model + " has blocks); change --world or --batch-size");
}

}  // namespace parallax
