// Known mechanisms behind a difference: BatchNorm's images, the global batch, bubble, imbalance.
#include "report/readings_causes.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "report/readings.h"
#include "report/readings_noise.h"

namespace parallax {
namespace {

// A measured bubble below this share of a step explains no visible slowdown.
constexpr double kBubbleThatMatters = 0.05;
// Stage timers of a balanced cut differ by a few percent on their own.
constexpr double kImbalanceThatMatters = 1.15;

std::string global_batch_clause(const ConfigGroup& a, const ConfigGroup& b) {
  if (!a.global_batch || !b.global_batch || *a.global_batch == *b.global_batch) return "";
  return a.label + " trains a global batch of " + format_count(*a.global_batch) +
         " images against " + format_count(*b.global_batch) + " in " + b.label;
}

std::string join(const std::vector<std::string>& clauses, const std::string& sep) {
  std::string s;
  for (const std::string& c : clauses)
    if (!c.empty()) s += (s.empty() ? "" : sep) + c;
  return s;
}

}  // namespace

std::optional<BatchNormScope> batchnorm_scope(const ConfigGroup& g) {
  const RunRecord* run = g.first();
  if (!run || json_string(run->config, {"norm"}) == "none" || !g.global_batch) return std::nullopt;
  const double batch = *g.global_batch;
  const std::string& s = g.strategy;
  if (s == "single") return BatchNormScope{batch, "the whole batch"};
  if (s == "ddp" || s.rfind("zero", 0) == 0) {
    // --accumulate K runs K forwards of batch/K per step; --sync-bn sums statistics over ranks.
    const double k = std::max(1.0, json_number(run->config, {"accumulate"}).value_or(1));
    const auto sync = run->config.find("sync_bn");
    if (sync != run->config.end() && sync->is_boolean() && sync->get<bool>())
      return BatchNormScope{batch / k, k > 1 ? "a micro-batch, synchronised over ranks"
                                             : "the global batch, synchronised over ranks"};
    if (g.world <= 1 && k <= 1) return BatchNormScope{batch, "the whole batch"};
    return BatchNormScope{std::ceil(batch / g.world / k),
                          k > 1 ? "a micro-batch of a rank's share" : "a rank's share"};
  }
  // Staged strategies: BatchNorm statistics are per micro-batch, as in GPipe; `model` runs the
  // whole batch as one.
  std::optional<double> micro = g.micro_batch_size;
  if (!micro) micro = json_number(run->summary, {"strategy_details", "micro_batch_size"});
  if (s == "model") return BatchNormScope{micro.value_or(batch), "the whole batch"};
  if ((s == "pipeline" || s == "hybrid") && micro) return BatchNormScope{*micro, "a micro-batch"};
  return std::nullopt;
}

std::string accuracy_cause(const ConfigGroup& a, const ConfigGroup& b) {
  std::vector<std::string> clauses{global_batch_clause(a, b)};
  const auto sa = batchnorm_scope(a), sb = batchnorm_scope(b);
  if (sa && sb && sa->images != sb->images)
    clauses.push_back("BatchNorm normalises over " + format_count(sa->images) + " images in " +
                      a.label + " (" + sa->whose + ") against " + format_count(sb->images) +
                      " in " + b.label + " (" + sb->whose + ")");
  return join(clauses, " and ");
}

std::string time_cause(const ConfigGroup& slow, const ConfigGroup& fast) {
  std::vector<std::string> clauses;
  const double own = slow.bubble_fraction.present() ? slow.bubble_fraction.mean : 0;
  const double other = fast.bubble_fraction.present() ? fast.bubble_fraction.mean : 0;
  if (own >= kBubbleThatMatters && own - other >= kBubbleThatMatters)
    clauses.push_back(slow.label + " idles " + percent_text(own) +
                      " of each step in its pipeline bubble");
  if (slow.stage_imbalance.present() && slow.stage_imbalance.mean >= kImbalanceThatMatters)
    clauses.push_back("in " + slow.label + " the busiest stage works " +
                      factor_text(slow.stage_imbalance.mean) +
                      " as long as the least busy (a stage imbalance)");
  clauses.push_back(global_batch_clause(slow, fast));
  return join(clauses, "; ");
}

}  // namespace parallax
