// The pipeline cost model (model, pipeline under every schedule, hybrid dp x pp): each piece's
// F, B, I, W seconds are its blocks' profiled times at the micro-batch size; the schedule is
// played out with them (parallel/schedule_simulator.h), a hop between ranks costing one send/recv
// of the boundary activation; the makespan is the step's pipeline part. Ranks sharing the machine
// slow each other only while both compute: each rank's slowdown comes from how many ranks the
// simulation has busy beside it, and the schedule is played again until that settles.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

#include "parallel/schedule.h"
#include "parallel/schedule_simulator.h"
#include "plan/collective_fit.h"
#include "plan/cost_model.h"

namespace parallax {
namespace {

// Mean number of ranks computing while rank r computes (itself included), per rank.
std::vector<double> busy_beside(const std::vector<std::vector<Action>>& sched,
                                const SimulatedStep& sim,
                                const std::vector<std::vector<ActionTimes>>& times) {
  const size_t ranks = sched.size();
  std::vector<std::vector<std::pair<double, double>>> spans(ranks);
  for (size_t r = 0; r < ranks; ++r)
    for (size_t i = 0; i < sched[r].size(); ++i) {
      const double t0 = sim.start_s[r][i];
      spans[r].push_back({t0, t0 + times[r][sched[r][i].chunk].of(sched[r][i].kind)});
    }
  std::vector<double> k(ranks, 1);
  for (size_t r = 0; r < ranks; ++r) {
    double busy = 0, beside = 0;
    for (const auto& [a0, a1] : spans[r]) {
      busy += a1 - a0;
      for (size_t o = 0; o < ranks; ++o)
        if (o != r)
          for (const auto& [b0, b1] : spans[o]) beside += overlap_s(a0, a1, b0, b1);
    }
    if (busy > 0) k[r] = 1 + beside / busy;
  }
  return k;
}

}  // namespace

PredictedStep predict_pipeline(const Profile& p, const PlanCandidate& c, int64_t batch) {
  const bool model = c.strategy == "model";
  const bool hybrid = c.strategy == "hybrid";
  const int pp = hybrid ? c.pp : c.world;
  const int dp = hybrid ? c.dp : 1;
  const int micro = model ? 1 : c.micro_batches;
  const std::string schedule = model ? "gpipe" : c.schedule;
  const PipelineLayout layout = layout_for(schedule, pp, c.virtual_stages);
  const std::string problem = schedule_problem(schedule, micro, layout);
  if (!problem.empty()) throw std::invalid_argument(problem);
  const size_t nb = p.block_names.size();
  if (c.cuts.size() != static_cast<size_t>(layout.pieces()) + 1 || c.cuts.back() != nb)
    throw std::invalid_argument(c.label + ": " + std::to_string(c.cuts.size()) + " cuts for " +
                                std::to_string(layout.pieces()) + " pieces of " +
                                std::to_string(nb) + " blocks");
  const int64_t rows = candidate_rows(c, batch);
  const auto blocks = p.blocks_at(rows);
  std::vector<ActionTimes> piece(layout.pieces());
  for (int k = 0; k < layout.pieces(); ++k) {
    ActionTimes t{0, 0, 0, 0};
    for (size_t b = c.cuts[k]; b < c.cuts[k + 1]; ++b) {
      t.forward += blocks[b].forward;
      t.backward += blocks[b].backward;
      t.input += blocks[b].input;
      t.weight += blocks[b].weight;
    }
    if (k == layout.pieces() - 1) t.forward += p.loss_s_per_row * static_cast<double>(rows);
    piece[k] = t;
  }
  double hop = 0;
  for (int k = 0; k + 1 < layout.pieces(); ++k) {
    const double bytes = static_cast<double>(p.output_bytes_per_row[c.cuts[k + 1] - 1] * rows);
    hop += p.collective("send_recv").seconds(bytes);
  }
  if (layout.pieces() > 1) hop /= layout.pieces() - 1;

  // Every rank computing beside the others at first; then as the simulation has them.
  std::vector<double> factor(pp, p.slowdown_at(static_cast<double>(pp * dp)));
  std::vector<std::vector<ActionTimes>> times;
  std::vector<std::vector<Action>> sched;
  SimulatedStep sim;
  for (int round = 0; round < 4; ++round) {
    times.assign(pp, std::vector<ActionTimes>(layout.chunks));
    std::vector<std::vector<std::array<double, 3>>> fiw(pp, std::vector<std::array<double, 3>>(layout.chunks));
    for (int r = 0; r < pp; ++r)
      for (int ch = 0; ch < layout.chunks; ++ch) {
        const ActionTimes& t = piece[layout.piece(r, ch)];
        times[r][ch] = {t.forward * factor[r], t.backward * factor[r], t.input * factor[r],
                        t.weight * factor[r]};
        fiw[r][ch] = {times[r][ch].forward, times[r][ch].input, times[r][ch].weight};
      }
    sched = schedule == "zb-v" ? zb_v_schedules(micro, pp, &fiw) : all_schedules(schedule, micro, layout);
    sim = simulate_schedule(sched, layout, micro, times, hop);
    if (!sim.deadlock.empty()) throw std::invalid_argument(c.label + ": " + sim.deadlock);
    if (p.slowdown.empty() || round == 3) break;  // the times priced are the ones simulated
    const auto k = busy_beside(sched, sim, times);
    double moved = 0;
    for (int r = 0; r < pp; ++r) {
      // Other replicas' ranks (hybrid) compute alike: dp times as many beside this one.
      const double f = p.slowdown_at(k[r] * dp);
      moved = std::max(moved, std::abs(f - factor[r]) / factor[r]);
      factor[r] = f;
    }
    if (moved < 0.002) break;
  }
  PredictedStep out;
  out.bubble = sim.bubble;
  out.slowdown = *std::max_element(factor.begin(), factor.end());
  std::vector<int64_t> stage_params(pp, 0);
  for (int r = 0; r < pp; ++r)
    for (int ch = 0; ch < layout.chunks; ++ch) {
      const int k = layout.piece(r, ch);
      for (size_t b = c.cuts[k]; b < c.cuts[k + 1]; ++b) stage_params[r] += p.block_params[b];
    }
  double sync = 0, exposed = 0;
  for (int r = 0; r < pp; ++r) {
    const double opt = p.optimizer_s_per_param * static_cast<double>(stage_params[r]) * factor[r];
    double rank_sync = 0, rank_exposed = 0;
    if (dp > 1) {
      const double bytes = static_cast<double>(stage_params[r]) * (c.wire_bf16 ? 2 : p.element_bytes);
      const CollectiveFit fit =
          rescale_ring(p.collective("all_reduce"), "all_reduce", p.collectives_world, dp);
      // Beside the last backward: latency under load, bytes stretched as in data parallel.
      rank_sync = std::max(fit.latency_s, p.loaded_latency_s) +
                  (1 + p.comm_compute_share) * (fit.seconds(bytes) - fit.latency_s);
      // Reduced as the last micro-batch's backward runs: what its backward does not cover.
      double last_b = 0;
      for (int ch = 0; ch < layout.chunks; ++ch) last_b += times[r][ch].backward;
      rank_exposed = std::max(0.0, rank_sync - last_b);
      rank_sync += p.scale_s_per_param * static_cast<double>(stage_params[r]) * factor[r];
    }
    out.optimizer_s = std::max(out.optimizer_s, opt);
    sync = std::max(sync, rank_sync);
    exposed = std::max(exposed, rank_exposed);
    double f = 0, b = 0;
    for (int ch = 0; ch < layout.chunks; ++ch) {
      f += times[r][ch].forward * micro;
      b += times[r][ch].backward * micro;
    }
    out.forward_s = std::max(out.forward_s, f);
    out.backward_s = std::max(out.backward_s, b);
  }
  out.comm_s = hop * 2 * micro * (layout.pieces() - 1) / std::max(1, pp) + sync;
  out.exposed_comm_s = exposed;
  out.hidden_fraction = sync > 0 ? 1 - exposed / sync : 0;
  out.step_s = sim.makespan_s + exposed + out.optimizer_s + p.step_overhead_s;
  out.images_per_sec = static_cast<double>(batch) / out.step_s;
  char buf[320], slow[64] = "";
  if (out.slowdown > 1.005) std::snprintf(slow, sizeof slow, " (up to x%.2f: ranks share the machine)", out.slowdown);
  std::snprintf(buf, sizeof buf,
                "%s: %d stages x %d chunk%s, %d micro-batches of %lld; busiest rank F %s + B %s%s, "
                "hop %s; simulated makespan %s, bubble %.1f%%%s -> %s/step",
                c.label.c_str(), pp, layout.chunks, layout.chunks > 1 ? "s" : "", micro,
                static_cast<long long>(rows), ms_text(out.forward_s).c_str(),
                ms_text(out.backward_s).c_str(), slow, ms_text(hop).c_str(),
                ms_text(sim.makespan_s).c_str(), 100 * sim.bubble,
                dp > 1 ? (", dp all-reduce " + ms_text(sync) + " (" + ms_text(exposed) + " exposed)").c_str() : "",
                ms_text(out.step_s).c_str());
  out.reason = buf;
  return out;
}

}  // namespace parallax
