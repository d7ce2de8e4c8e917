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

// The candidate's pipeline: ranks per replica, replicas, micro-batches, schedule and layout.
struct PipelineShape {
  int pp = 1, dp = 1, micro = 1;
  std::string schedule;
  PipelineLayout layout;
};

// std::invalid_argument for a schedule that cannot run or cuts that do not fit the blocks.
PipelineShape pipeline_shape_of(const Profile& p, const PlanCandidate& c) {
  const bool model = c.strategy == "model";
  const bool hybrid = c.strategy == "hybrid";
  PipelineShape s;
  s.pp = hybrid ? c.pp : c.world;
  s.dp = hybrid ? c.dp : 1;
  s.micro = model ? 1 : c.micro_batches;
  s.schedule = model ? "gpipe" : c.schedule;
  s.layout = layout_for(s.schedule, s.pp, c.virtual_stages);
  const std::string problem = schedule_problem(s.schedule, s.micro, s.layout);
  if (!problem.empty()) throw std::invalid_argument(problem);
  const size_t nb = p.block_names.size();
  if (c.cuts.size() != static_cast<size_t>(s.layout.pieces()) + 1 || c.cuts.back() != nb)
    throw std::invalid_argument(c.label + ": " + std::to_string(c.cuts.size()) + " cuts for " +
                                std::to_string(s.layout.pieces()) + " pieces of " +
                                std::to_string(nb) + " blocks");
  return s;
}

// Each piece's F, B, I, W: its blocks' times at the micro-batch size; the loss on the last.
std::vector<ActionTimes> piece_seconds(const Profile& p, const PlanCandidate& c,
                                       const PipelineLayout& layout, int64_t rows) {
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
  return piece;
}

// One hop between ranks: the mean send/recv of the boundary activations.
double hop_seconds(const Profile& p, const PlanCandidate& c, const PipelineLayout& layout,
                   int64_t rows) {
  double hop = 0;
  for (int k = 0; k + 1 < layout.pieces(); ++k) {
    const double bytes = static_cast<double>(p.output_bytes_per_row[c.cuts[k + 1] - 1] * rows);
    hop += p.collective("send_recv").seconds(bytes);
  }
  if (layout.pieces() > 1) hop /= layout.pieces() - 1;
  return hop;
}

// The schedule as played: each rank's slowdown factor, its chunks' times under it, the simulation.
struct PlayedSchedule {
  std::vector<double> factor;
  std::vector<std::vector<ActionTimes>> times;
  SimulatedStep sim;
};

// Rank r's chunks' times: its pieces' times slowed by its factor.
std::vector<std::vector<ActionTimes>> slowed_times(const std::vector<ActionTimes>& piece,
                                                   const PipelineShape& s,
                                                   const std::vector<double>& factor) {
  std::vector<std::vector<ActionTimes>> times(s.pp, std::vector<ActionTimes>(s.layout.chunks));
  for (int r = 0; r < s.pp; ++r)
    for (int ch = 0; ch < s.layout.chunks; ++ch) {
      const ActionTimes& t = piece[s.layout.piece(r, ch)];
      times[r][ch] = {t.forward * factor[r], t.backward * factor[r], t.input * factor[r],
                      t.weight * factor[r]};
    }
  return times;
}

// Every rank's actions; ZB-V plans on the times given, the others are fixed orders.
std::vector<std::vector<Action>> played_schedules(
    const PipelineShape& s, const std::vector<std::vector<ActionTimes>>& times) {
  if (s.schedule != "zb-v") return all_schedules(s.schedule, s.micro, s.layout);
  std::vector<std::vector<std::array<double, 3>>> fiw(
      s.pp, std::vector<std::array<double, 3>>(s.layout.chunks));
  for (int r = 0; r < s.pp; ++r)
    for (int ch = 0; ch < s.layout.chunks; ++ch)
      fiw[r][ch] = {times[r][ch].forward, times[r][ch].input, times[r][ch].weight};
  return zb_v_schedules(s.micro, s.pp, &fiw);
}

// Each rank's factor from how many ranks the simulation has busy beside it; returns the largest
// relative change.
double refit_slowdown(const Profile& p, const PipelineShape& s,
                      const std::vector<std::vector<Action>>& sched, PlayedSchedule& played) {
  const auto k = busy_beside(sched, played.sim, played.times);
  double moved = 0;
  for (int r = 0; r < s.pp; ++r) {
    // Other replicas' ranks (hybrid) compute alike: dp times as many beside this one.
    const double f = p.slowdown_at(k[r] * s.dp);
    moved = std::max(moved, std::abs(f - played.factor[r]) / played.factor[r]);
    played.factor[r] = f;
  }
  return moved;
}

// Every rank computing beside the others at first; then as the simulation has them, played
// again until the factors settle (at most four rounds).
PlayedSchedule play_pipeline(const Profile& p, const PlanCandidate& c, const PipelineShape& s,
                             const std::vector<ActionTimes>& piece, double hop) {
  PlayedSchedule played;
  played.factor.assign(s.pp, p.slowdown_at(static_cast<double>(s.pp * s.dp)));
  std::vector<std::vector<Action>> sched;
  for (int round = 0; round < 4; ++round) {
    played.times = slowed_times(piece, s, played.factor);
    sched = played_schedules(s, played.times);
    played.sim = simulate_schedule(sched, s.layout, s.micro, played.times, hop);
    if (!played.sim.deadlock.empty())
      throw std::invalid_argument(c.label + ": " + played.sim.deadlock);
    if (p.slowdown.empty() || round == 3) break;  // the times priced are the ones simulated
    if (refit_slowdown(p, s, sched, played) < 0.002) break;
  }
  return played;
}

// The parameters each rank holds: its chunks' pieces' blocks.
std::vector<int64_t> stage_params_of(const Profile& p, const PlanCandidate& c,
                                     const PipelineShape& s) {
  std::vector<int64_t> stage_params(s.pp, 0);
  for (int r = 0; r < s.pp; ++r)
    for (int ch = 0; ch < s.layout.chunks; ++ch) {
      const int k = s.layout.piece(r, ch);
      for (size_t b = c.cuts[k]; b < c.cuts[k + 1]; ++b) stage_params[r] += p.block_params[b];
    }
  return stage_params;
}

// Hybrid's all-reduce over the replicas, on the slowest rank, and the part nothing hides.
struct ReplicaSync {
  double sync = 0, exposed = 0;
};

// Per rank: the optimizer, the replicas' all-reduce (hybrid), the compute; `out` takes the
// busiest rank's.
ReplicaSync price_ranks(const Profile& p, const PlanCandidate& c, const PipelineShape& s,
                        const PlayedSchedule& played, PredictedStep& out) {
  const std::vector<int64_t> stage_params = stage_params_of(p, c, s);
  const auto& times = played.times;
  const auto& factor = played.factor;
  ReplicaSync all;
  for (int r = 0; r < s.pp; ++r) {
    const double opt = p.optimizer_s_per_param * static_cast<double>(stage_params[r]) * factor[r];
    double rank_sync = 0, rank_exposed = 0;
    if (s.dp > 1) {
      const double bytes =
          static_cast<double>(stage_params[r]) * (c.wire_bf16 ? 2 : p.element_bytes);
      const CollectiveFit fit =
          rescale_ring(p.collective("all_reduce"), "all_reduce", p.collectives_world, s.dp);
      // Beside the last backward: latency under load, bytes stretched as in data parallel.
      rank_sync = std::max(fit.latency_s, p.loaded_latency_s) +
                  (1 + p.comm_compute_share) * (fit.seconds(bytes) - fit.latency_s);
      // Reduced as the last micro-batch's backward runs: what its backward does not cover.
      double last_b = 0;
      for (int ch = 0; ch < s.layout.chunks; ++ch) last_b += times[r][ch].backward;
      rank_exposed = std::max(0.0, rank_sync - last_b);
      rank_sync += p.scale_s_per_param * static_cast<double>(stage_params[r]) * factor[r];
    }
    out.optimizer_s = std::max(out.optimizer_s, opt);
    all.sync = std::max(all.sync, rank_sync);
    all.exposed = std::max(all.exposed, rank_exposed);
    double f = 0, b = 0;
    for (int ch = 0; ch < s.layout.chunks; ++ch) {
      f += times[r][ch].forward * s.micro;
      b += times[r][ch].backward * s.micro;
    }
    out.forward_s = std::max(out.forward_s, f);
    out.backward_s = std::max(out.backward_s, b);
  }
  return all;
}

std::string pipeline_reason(const PlanCandidate& c, const PipelineShape& s, int64_t rows,
                            double hop, const SimulatedStep& sim, const ReplicaSync& sync,
                            const PredictedStep& out) {
  char buf[320], slow[64] = "";
  if (out.slowdown > 1.005)
    std::snprintf(slow, sizeof slow, " (up to x%.2f: ranks share the machine)", out.slowdown);
  const std::string dp_sync = s.dp > 1 ? ", dp all-reduce " + ms_text(sync.sync) + " (" +
                                             ms_text(sync.exposed) + " exposed)"
                                       : "";
  std::snprintf(buf, sizeof buf,
                "%s: %d stages x %d chunk%s, %d micro-batches of %lld; busiest rank F %s + B %s%s, "
                "hop %s; simulated makespan %s, bubble %.1f%%%s -> %s/step",
                c.label.c_str(), s.pp, s.layout.chunks, s.layout.chunks > 1 ? "s" : "", s.micro,
                static_cast<long long>(rows), ms_text(out.forward_s).c_str(),
                ms_text(out.backward_s).c_str(), slow, ms_text(hop).c_str(),
                ms_text(sim.makespan_s).c_str(), 100 * sim.bubble, dp_sync.c_str(),
                ms_text(out.step_s).c_str());
  return buf;
}

}  // namespace

PredictedStep predict_pipeline(const Profile& p, const PlanCandidate& c, int64_t batch) {
  const PipelineShape s = pipeline_shape_of(p, c);
  const int64_t rows = candidate_rows(c, batch);
  const std::vector<ActionTimes> piece = piece_seconds(p, c, s.layout, rows);
  const double hop = hop_seconds(p, c, s.layout, rows);
  const PlayedSchedule played = play_pipeline(p, c, s, piece, hop);
  const SimulatedStep& sim = played.sim;
  PredictedStep out;
  out.bubble = sim.bubble;
  out.slowdown = *std::max_element(played.factor.begin(), played.factor.end());
  const ReplicaSync sync = price_ranks(p, c, s, played, out);
  out.comm_s = hop * 2 * s.micro * (s.layout.pieces() - 1) / std::max(1, s.pp) + sync.sync;
  out.exposed_comm_s = sync.exposed;
  out.hidden_fraction = sync.sync > 0 ? 1 - sync.exposed / sync.sync : 0;
  out.step_s = sim.makespan_s + sync.exposed + out.optimizer_s + p.step_overhead_s;
  out.images_per_sec = static_cast<double>(batch) / out.step_s;
  out.reason = pipeline_reason(c, s, rows, hop, sim, sync, out);
  return out;
}

}  // namespace parallax
