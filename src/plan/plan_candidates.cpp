// plan_candidates(): the grid, each point checked the way `parallax train` would check it.
#include "plan/plan_candidates.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "config/user_error.h"
#include "models/partition.h"
#include "parallel/bucket_layout.h"
#include "parallel/schedule.h"

namespace parallax {
namespace {

bool wanted(const CandidateSpace& s, const std::string& strategy) {
  return s.strategies.empty() ||
         std::find(s.strategies.begin(), s.strategies.end(), strategy) != s.strategies.end();
}

std::vector<int> micro_counts(const CandidateSpace& s, int stages, int64_t batch) {
  std::vector<int> out;
  std::vector<int> counts = s.micro_batches;
  if (counts.empty()) counts = {stages, 2 * stages, 4 * stages};
  for (int m : counts)
    if (m >= 1 && batch % m == 0 && std::find(out.begin(), out.end(), m) == out.end())
      out.push_back(m);
  return out;
}

// A bucket size as `train --bucket-mb` reads it back to the same double.
std::string mb_text(double mb) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", mb);
  return buf;
}

std::string join_names(const std::vector<std::string>& names, const std::vector<size_t>& cuts) {
  std::string out;
  for (size_t i = 1; i + 1 < cuts.size(); ++i) out += (out.empty() ? "" : ",") + names[cuts[i]];
  return out;
}

// Pieces balanced on F + B at the candidate's micro-batch size.
std::vector<size_t> balanced_cuts(const Profile& p, int pieces, int64_t rows) {
  std::vector<double> costs;
  for (const auto& b : p.blocks_at(rows)) costs.push_back(b.forward + b.backward);
  return partition_balanced(costs, pieces).cuts;
}

// A candidate of `strategy` over the space's world, with the options every one of them shares.
PlanCandidate base_candidate(const CandidateSpace& s, const std::string& label,
                             const std::string& strategy) {
  PlanCandidate c;
  c.label = label;
  c.strategy = strategy;
  c.world = strategy == "single" ? 1 : s.world;
  c.bucket_mb = s.bucket_mb;
  c.tail_bucket_mb = s.tail_bucket_mb;
  c.wire_bf16 = s.wire_bf16;
  c.reshard_after_forward = s.reshard_after_forward;
  c.args = {"--strategy", strategy};
  if (strategy != "single") c.args.insert(c.args.end(), {"--nproc", std::to_string(s.world)});
  // ddp and zero are priced with the space's buckets, and their check runs train with them
  // (the check drops the user's own --bucket-mb: each candidate says its own).
  if (strategy == "ddp" || strategy == "zero")
    c.args.insert(c.args.end(), {"--bucket-mb", mb_text(s.bucket_mb)});
  return c;
}

// ddp overlapped, not, and with a smaller bucket.
void add_ddp_candidates(const CandidateSpace& s, const Profile& p,
                        std::vector<PlanCandidate>& out) {
  out.push_back(base_candidate(s, "ddp", "ddp"));
  PlanCandidate c = base_candidate(s, "ddp no-overlap", "ddp");
  c.overlap = false;
  c.args.push_back("--no-overlap");
  out.push_back(c);
  // A smaller bucket, where it makes a different layout (a model of a few MiB has one bucket
  // either way).
  constexpr double kMiB = 1024.0 * 1024.0;
  const auto layout = [&](double mb) {
    return plan_buckets(p.param_numels, p.element_bytes, kMiB, mb * kMiB, 1,
                        s.tail_bucket_mb * kMiB)
        .buckets.size();
  };
  if (layout(5) != layout(s.bucket_mb)) {
    c = base_candidate(s, "ddp bucket 5", "ddp");
    c.bucket_mb = 5;
    *(std::find(c.args.begin(), c.args.end(), "--bucket-mb") + 1) = "5";
    out.push_back(c);
  }
}

void add_zero_candidates(const CandidateSpace& s, std::vector<PlanCandidate>& out) {
  for (int stage : {1, 2, 3}) {
    PlanCandidate c = base_candidate(s, "zero-" + std::to_string(stage), "zero");
    c.zero_stage = stage;
    c.args.insert(c.args.end(), {"--zero-stage", std::to_string(stage)});
    out.push_back(c);
  }
}

// Where a pipeline candidate sits in the grid: stages, replicas, schedule, micro-batches, and
// chunks per rank.
struct PipelineGridPoint {
  int pp, dp;
  std::string schedule;
  int micro, chunks;
};

// `c` as a pipeline at `at`, cut on the profiled block times; left out if it cannot run.
void add_pipeline_candidate(const CandidateSpace& s, const Profile& p, PlanCandidate c,
                            const PipelineGridPoint& at, std::vector<PlanCandidate>& out) {
  const PipelineLayout layout = layout_for(at.schedule, at.pp, at.chunks);
  if (static_cast<size_t>(layout.pieces()) > p.block_names.size()) return;
  if (!schedule_problem(at.schedule, at.micro, layout).empty()) return;
  c.pp = at.pp;
  c.dp = at.dp;
  c.schedule = at.schedule;
  c.micro_batches = at.micro;
  c.virtual_stages = layout.chunks;
  c.cuts = balanced_cuts(p, layout.pieces(), std::max<int64_t>(1, s.batch / at.dp / at.micro));
  c.args.insert(c.args.end(), {"--split-at", join_names(p.block_names, c.cuts)});
  if (c.strategy != "model")
    c.args.insert(c.args.end(), {"--pipeline-schedule", at.schedule, "--micro-batches",
                                 std::to_string(at.micro)});
  if (layout.chunks > 1 && at.schedule != "zb-v")
    c.args.insert(c.args.end(), {"--virtual-stages", std::to_string(layout.chunks)});
  out.push_back(c);
}

// The whole world one pipeline, under every schedule at each micro-batch count.
void add_pipeline_candidates(const CandidateSpace& s, const Profile& p,
                             std::vector<PlanCandidate>& out) {
  const int n = s.world;
  for (const auto& schedule : schedule_names())
    for (int m : micro_counts(s, n, s.batch)) {
      const int chunks = schedule == "interleaved-1f1b" || schedule == "zb-v" ? 2 : 1;
      add_pipeline_candidate(
          s, p, base_candidate(s, "pipeline " + schedule + " m" + std::to_string(m), "pipeline"),
          {n, 1, schedule, m, chunks}, out);
    }
}

// dp replicas of a pp-stage 1F1B pipeline, for every pp that divides the world.
void add_hybrid_candidates(const CandidateSpace& s, const Profile& p,
                           std::vector<PlanCandidate>& out) {
  const int n = s.world;
  for (int pp = 2; pp < n; ++pp) {
    if (n % pp != 0) continue;
    const int dp = n / pp;
    if (s.batch % dp != 0) continue;
    for (int m : micro_counts(s, pp, s.batch / dp)) {
      PlanCandidate c = base_candidate(
          s,
          "hybrid " + std::to_string(dp) + "x" + std::to_string(pp) + " 1f1b m" + std::to_string(m),
          "hybrid");
      c.args = {"--strategy", "hybrid",           "--dp",    std::to_string(dp),
                "--pp",       std::to_string(pp), "--nproc", std::to_string(n)};
      add_pipeline_candidate(s, p, c, {pp, dp, "1f1b", m, 1}, out);
    }
  }
}

// Every candidate under each recompute setting, in that order. The cuts stay those balanced
// without recomputation: it adds to every block's backward roughly in proportion to its forward.
std::vector<PlanCandidate> with_recompute_settings(const CandidateSpace& s,
                                                   const std::vector<PlanCandidate>& plain) {
  std::vector<PlanCandidate> out;
  for (const auto& mode : s.recompute)
    for (PlanCandidate c : plain) {
      c.recompute = mode;
      if (mode != "none") {
        c.label += " recompute " + mode;
        c.args.insert(c.args.end(), {"--recompute", mode});
      }
      out.push_back(c);
    }
  return out;
}

}  // namespace

const std::vector<std::string>& plan_strategy_names() {
  static const std::vector<std::string> names{"single", "ddp",      "zero",
                                              "model",  "pipeline", "hybrid"};
  return names;
}

std::vector<PlanCandidate> plan_candidates(const CandidateSpace& s, const Profile& p) {
  std::vector<PlanCandidate> out;
  const int n = s.world;
  if (wanted(s, "single")) out.push_back(base_candidate(s, "single", "single"));
  if (n < 2) return with_recompute_settings(s, out);
  const bool splits = s.batch % n == 0;
  if (wanted(s, "ddp") && splits) add_ddp_candidates(s, p, out);
  if (wanted(s, "zero") && splits) add_zero_candidates(s, out);
  if (wanted(s, "model"))
    add_pipeline_candidate(s, p, base_candidate(s, "model", "model"), {n, 1, "gpipe", 1, 1}, out);
  if (wanted(s, "pipeline")) add_pipeline_candidates(s, p, out);
  if (wanted(s, "hybrid")) add_hybrid_candidates(s, p, out);
  return with_recompute_settings(s, out);
}

void keep_profiled_recompute(CandidateSpace& space, const Profile& profile) {
  std::vector<std::string> kept;
  for (const auto& mode : space.recompute)
    if (mode == "none" || profile.recomputed_blocks_by_rows.count(mode))
      kept.push_back(mode);
    else
      std::fprintf(stderr,
                   "parallax: plan: the profile has no block times under --recompute %s; its "
                   "candidates are left out (profile with it here to price them)\n",
                   mode.c_str());
  if (kept.empty())
    throw UserError("--plan-recompute: the profile has block times under none of these settings; "
                    "give --plan-recompute none or profile here");
  space.recompute = kept;
}

std::vector<int64_t> candidate_rows_needed(const std::vector<PlanCandidate>& candidates,
                                           int64_t batch) {
  std::set<int64_t> rows;
  for (const auto& c : candidates) rows.insert(candidate_rows(c, batch));
  return {rows.begin(), rows.end()};
}

}  // namespace parallax
