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

// --plan-recompute's list, each name checked; by default --recompute's setting where one is
// given, else all three for a transformer (whose attention selective recomputes) and none for a
// ResNet.
std::vector<std::string> recompute_settings(const PlanOptions& opts, const Config& cfg) {
  const bool transformer = cfg.model.rfind("resnet", 0) != 0;
  if (opts.recompute_modes.empty()) {
    if (cfg.recompute != "none") return {cfg.recompute};
    return transformer ? std::vector<std::string>{"none", "selective", "full"}
                       : std::vector<std::string>{"none"};
  }
  if (cfg.recompute != "none")
    throw UserError("--recompute " + cfg.recompute + " with --plan-recompute " +
                    opts.recompute_modes + ": give one of them (the plan's list decides each "
                    "candidate's setting)");
  std::vector<std::string> out;
  for (const auto& mode : split_list(opts.recompute_modes)) {
    if (mode != "none" && mode != "full" && mode != "selective")
      throw UserError("--plan-recompute: unknown setting '" + mode +
                      "'; give none, full or selective, comma-separated");
    if (mode == "selective" && !transformer)
      throw UserError("--plan-recompute selective: " + cfg.model +
                      " has no attention core to recompute; give none or full");
    if (std::find(out.begin(), out.end(), mode) == out.end()) out.push_back(mode);
  }
  if (out.empty())
    throw UserError("--plan-recompute: no setting given; give none, full or selective, "
                    "comma-separated");
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
  space.recompute = recompute_settings(opts, cfg);
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
