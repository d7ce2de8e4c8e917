// Readings of each strategy's step, under the breakdown chart: from the measured figures of its
// summary (comm_busy_s, comm_s, the buckets' waits, the bubble), never from a model of them.
#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "report/readings.h"

namespace parallax {
namespace {

std::string format_ms(double seconds) {  // a step's parts: "70.6 ms", "1.02 s"
  return seconds >= 1 ? format_seconds(seconds) : format_sig(seconds * 1e3) + " ms";
}

double share(double part, double whole) {
  return whole > 0 ? part / whole : 0;
}

// ddp, zero, hybrid: the collectives' flight per step, how much of it backward hid, and what the
// step waited for.
std::string comm_story(const ConfigGroup& g) {
  const double step = g.step_time_s.mean, busy = g.comm_busy_per_step_s.mean;
  const bool zero = g.strategy.rfind("zero", 0) == 0;
  double waited = 0;  // the reducer's wait after backward
  for (const auto& b : g.buckets) waited += b.wait_s;
  // No bucket figures (hybrid), or none timed (a run no longer than its warm-up): comm_s less
  // ZeRO's waits for its parameters, the reducer's wait alone.
  const bool by_bucket = waited > 0;
  const bool gathers_split = g.gather_wait_per_step_s.present();
  if (!by_bucket && g.comm_per_step_s.present())
    waited = g.comm_per_step_s.mean - (gathers_split ? g.gather_wait_per_step_s.mean : 0);
  waited = std::min(waited, busy);
  std::string s = g.label + ": " + format_percent(std::clamp(1.0 - share(waited, busy), 0.0, 1.0)) +
                  " of the " + format_ms(busy) + " of gradient " +
                  (zero ? "reduce-scatter" : "all-reduce") +
                  " in flight per step is hidden under backward";
  if (waited <= 0) return s + "; none of it is exposed";
  s += "; " + format_ms(waited) + " is exposed after backward (" +
       format_percent(share(waited, step)) + " of the " + format_ms(step) + " step)";
  if (by_bucket) {
    size_t most = 0;
    for (size_t b = 1; b < g.buckets.size(); ++b)
      if (g.buckets[b].wait_s > g.buckets[most].wait_s) most = b;
    const auto& b = g.buckets[most];
    const bool last = most + 1 == g.buckets.size();
    s += ", " + format_percent(share(b.wait_s, waited)) + " of it waiting for " +
         (last ? std::string("the last bucket") + (g.buckets.size() > 1 ? "" : ", the only one")
               : "bucket " + std::to_string(most + 1) + " of " + std::to_string(g.buckets.size())) +
         " (" + format_mib(b.bytes) + ", " + format_ms(b.in_flight_s) + " in flight)";
  }
  // ZeRO's other wait: on the parameters' all-gathers (comm_s counts it too; summaries give it
  // apart, older ones leave it to be told from the buckets'): stages 1 and 2 in the next
  // forward, stage 3 in forward and backward.
  if (zero && (by_bucket || gathers_split) && g.comm_per_step_s.present()) {
    const double gather =
        gathers_split ? g.gather_wait_per_step_s.mean : g.comm_per_step_s.mean - waited;
    if (gather > 0.01 * step)
      s += std::string(g.strategy == "zero-3" ? "; forward and backward wait "
                                              : "; the next forward waits ") +
           format_ms(gather) + " for the parameters' all-gathers";
  }
  return s;
}

// model, pipeline (and hybrid's stages): the measured bubble against the schedule's theory.
std::string bubble_story(const ConfigGroup& g) {
  const double step = g.step_time_s.mean;
  std::string s = g.label + ": ";
  if (g.micro_batches && *g.micro_batches > 1)
    s += format_count(*g.micro_batches) + " micro-batches, ";
  s += "the bubble (idle waiting for the other stage" +
       std::string(g.stages && *g.stages > 2 ? "s" : "") + ") is " +
       format_percent(g.bubble_fraction.mean) + " of the " + format_ms(step) + " step";
  if (g.bubble_fraction_theory.present())
    s += ", " + format_percent(g.bubble_fraction_theory.mean) + " in theory" +
         (g.stages ? " (" + format_count(*g.stages) + " stages)" : "");
  if (g.stage_imbalance.present() && g.stage_imbalance.mean > 1.1)
    s += "; the busiest stage works " + format_ratio(g.stage_imbalance.mean) +
         " as long as the least busy";
  return s;
}

}  // namespace

namespace {

// The straggler reading of the configuration's first finished run, where every finished run
// found the same rank slow (one repeat's noise does not name a rank); "" otherwise.
std::string straggler_of(const ConfigGroup& g) {
  std::string reading;
  int rank = -1;
  for (const RunRecord* r : g.finished) {
    const auto it = r->summary.find("straggler");
    if (it == r->summary.end() || !it->is_object()) return "";
    const int this_rank = it->value("rank", -1);
    if (rank >= 0 && this_rank != rank) return "";
    if (rank < 0) reading = it->value("reading", std::string());
    rank = this_rank;
  }
  return reading;
}

}  // namespace

std::vector<std::string> read_step_by_strategy(const ReportData& data) {
  // Per strategy, in order of appearance: its largest world, there its fastest configuration.
  std::vector<std::string> order;
  std::map<std::string, const ConfigGroup*> pick;
  for (const ConfigGroup* g : data.finished()) {
    if (!g->step_time_s.present() || g->step_time_s.mean <= 0) continue;
    const ConfigGroup*& p = pick[g->strategy];
    if (!p) order.push_back(g->strategy);
    if (!p || g->world > p->world ||
        (g->world == p->world && g->images_per_sec.mean > p->images_per_sec.mean))
      p = g;
  }
  std::vector<std::string> out;
  for (const std::string& strategy : order) {
    const ConfigGroup& g = *pick[strategy];
    const bool comm = g.comm_busy_per_step_s.present() && g.comm_busy_per_step_s.mean > 0;
    const bool bubble = g.bubble_fraction.present();
    std::string s;
    if (comm) s = comm_story(g);
    if (bubble)
      s += s.empty() ? bubble_story(g) : "; " + bubble_story(g).substr(g.label.size() + 2);
    if (!comm && !bubble && g.compute_per_step_s.present())
      s = g.label + ": compute is " +
          format_percent(std::min(1.0, share(g.compute_per_step_s.mean, g.step_time_s.mean))) +
          " of the " + format_ms(g.step_time_s.mean) + " step" +
          (g.world > 1 ? "" : "; no communication, no bubble");
    // A rank that works longer than the others beyond their noise (summary.json's straggler,
    // metrics/stragglers.h), named in every repeat where it was found.
    const std::string slow = straggler_of(g);
    if (!slow.empty()) s += (s.empty() ? g.label + ": " : "; ") + slow;
    if (!s.empty()) out.push_back(s + ".");
  }
  return out;
}

}  // namespace parallax
