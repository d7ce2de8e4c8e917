// The simulator walks the ranks' lists as far as each can go, round after round: an action's
// start is fixed once its inputs' end times are, whatever order the ranks are visited in.
#include "parallel/schedule_simulator.h"

#include <algorithm>

namespace parallax {

double ActionTimes::of(Action::Kind k) const {
  switch (k) {
    case Action::kForward: return forward;
    case Action::kBackward: return backward;
    case Action::kInput: return input;
    case Action::kWeight: return weight;
  }
  return 0;
}

std::vector<std::vector<Action>> all_schedules(const std::string& schedule, int micro,
                                               const PipelineLayout& layout) {
  if (schedule == "zb-v") return zb_v_schedules(micro, layout.stages);
  std::vector<std::vector<Action>> all;
  for (int s = 0; s < layout.stages; ++s) all.push_back(make_schedule(schedule, micro, layout, s));
  return all;
}

SimulatedStep simulate_schedule(const std::vector<std::vector<Action>>& per_rank,
                                const PipelineLayout& layout, int micro,
                                const std::vector<std::vector<ActionTimes>>& times,
                                double hop_s) {
  const int ranks = static_cast<int>(per_rank.size()), pieces = layout.pieces();
  // End times of each piece's forward and input gradient (I or B), per micro-batch; -1: not yet.
  std::vector<std::vector<double>> fwd(pieces, std::vector<double>(micro, -1));
  std::vector<std::vector<double>> grad = fwd, inp = fwd;
  SimulatedStep out;
  out.busy_s.assign(ranks, 0);
  out.end_s.assign(ranks, 0);
  out.start_s.resize(ranks);
  std::vector<size_t> next(ranks, 0);
  std::vector<double> free_at(ranks, 0);
  const int last = pieces - 1;
  auto arrival = [&](double t, int from_piece, int to_piece) {
    return t + (layout.owner(from_piece) != layout.owner(to_piece) ? hop_s : 0);
  };
  for (bool progress = true; progress;) {
    progress = false;
    for (int r = 0; r < ranks; ++r) {
      while (next[r] < per_rank[r].size()) {
        const Action& a = per_rank[r][next[r]];
        const int g = layout.piece(r, a.chunk), m = a.micro;
        double ready = 0;
        if (a.kind == Action::kForward) {
          if (g > 0 && fwd[g - 1][m] < 0) break;
          if (g > 0) ready = arrival(fwd[g - 1][m], g - 1, g);
        } else if (a.kind == Action::kWeight) {
          if (inp[g][m] < 0) break;
          ready = inp[g][m];
        } else {
          if (fwd[g][m] < 0 || (g < last && grad[g + 1][m] < 0)) break;
          ready = std::max(fwd[g][m], g < last ? arrival(grad[g + 1][m], g + 1, g) : 0.0);
        }
        const double start = std::max(free_at[r], ready);
        const double end = start + times[r][a.chunk].of(a.kind);
        out.start_s[r].push_back(start);
        out.busy_s[r] += end - start;
        free_at[r] = out.end_s[r] = end;
        if (a.kind == Action::kForward) fwd[g][m] = end;
        if (a.kind == Action::kInput) inp[g][m] = grad[g][m] = end;
        if (a.kind == Action::kBackward) grad[g][m] = inp[g][m] = end;
        ++next[r];
        progress = true;
      }
    }
  }
  for (int r = 0; r < ranks; ++r) {
    if (next[r] < per_rank[r].size() && out.deadlock.empty())
      out.deadlock = "rank " + std::to_string(r) + " waits forever at " +
                     to_string(per_rank[r][next[r]]);
    out.makespan_s = std::max(out.makespan_s, out.end_s[r]);
  }
  // Idle until the last rank is done counts: the step ends for all at its closing sync.
  for (int r = 0; r < ranks; ++r)
    out.bubble += out.makespan_s > 0 ? (out.makespan_s - out.busy_s[r]) / out.makespan_s / ranks : 0;
  return out;
}

}  // namespace parallax

namespace parallax {

SimulatedStep simulate_schedule(const std::vector<std::vector<Action>>& per_rank,
                                const PipelineLayout& layout, int micro, const ActionTimes& each,
                                double hop_s) {
  return simulate_schedule(
      per_rank, layout, micro,
      std::vector<std::vector<ActionTimes>>(per_rank.size(),
                                            std::vector<ActionTimes>(layout.chunks, each)),
      hop_s);
}

}  // namespace parallax
