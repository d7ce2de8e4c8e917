// ZB-V from the zero-bubble paper's heuristic, played out on given action times (unit times,
// F = I = W per chunk, unless a profile is given; transfers free): whenever a rank is free, it
// takes, in this order,
//   1. the ready I of the earliest micro-batch (the later piece first): someone waits for it;
//   2. a ready F, if it holds fewer micro-batch chunks than its cap, counting the chunk-1
//      forwards it owes the micro-batches it started (the later piece first: it brings that
//      micro-batch's backward nearer);
//   3. its oldest pending W;
// else it waits for the next action anywhere to end. The lists are the order each rank took its
// actions in, so any real timing can run them (every input an action needs came from an action
// that ran before it in this play).
#include <algorithm>
#include <deque>
#include <limits>
#include <optional>
#include <stdexcept>

#include "parallel/schedule.h"

namespace parallax {

std::vector<std::vector<Action>> zb_v_schedules(
    int micro, int stages, const std::vector<std::vector<std::array<double, 3>>>* times) {
  const PipelineLayout layout = layout_for("zb-v", stages, 2);
  const int p = stages, v = 2, pieces = layout.pieces(), last = pieces - 1;
  const int cap = 2 * p;
  constexpr double kNever = std::numeric_limits<double>::infinity();
  auto cost = [&](int r, const Action& a) {
    if (!times) return 1.0;
    const int k = a.kind == Action::kForward ? 0 : a.kind == Action::kInput ? 1 : 2;
    return (*times)[r][a.chunk][k];
  };
  // When each piece's forward and input gradient of each micro-batch end.
  std::vector<std::vector<double>> fwd(pieces, std::vector<double>(micro, kNever)), inp = fwd;
  std::vector<std::vector<Action>> out(p);
  std::vector<std::vector<int>> next_f(p, std::vector<int>(v, 0)), next_i = next_f;
  std::vector<std::deque<Action>> pending_w(p);
  std::vector<int> held(p, 0);
  std::vector<double> free_at(p, 0);
  std::vector<double> ends;  // of every action taken so far
  const size_t total = 3 * static_cast<size_t>(micro) * v;
  std::vector<double> stalled(p, -1);  // the time a rank last found nothing to do
  for (size_t steps = 0;; ++steps) {
    if (steps > 1000 * total) throw std::logic_error("zb-v schedule: no progress");
    // The earliest time a rank is free; everything ending by then is known.
    double t = kNever;
    for (int q = 0; q < p; ++q)
      if (out[q].size() < total) t = std::min(t, free_at[q]);
    if (t == kNever) break;
    int r = -1;
    for (int q = 0; q < p && r < 0; ++q)
      if (out[q].size() < total && free_at[q] == t && stalled[q] != t) r = q;
    if (r < 0) {
      // Every rank free at t waits: on to the next action's end, or the next rank's decision.
      double next = kNever;
      for (double e : ends)
        if (e > t) next = std::min(next, e);
      for (int q = 0; q < p; ++q)
        if (out[q].size() < total && free_at[q] > t) next = std::min(next, free_at[q]);
      if (next == kNever) throw std::logic_error("zb-v schedule: a rank waits forever");
      for (int q = 0; q < p; ++q)
        if (free_at[q] == t) free_at[q] = next;
      continue;
    }
    std::optional<Action> pick;
    for (int c = 0; c < v; ++c) {
      const int m = next_i[r][c], g = layout.piece(r, c);
      if (m >= micro || fwd[g][m] > t || (g < last && inp[g + 1][m] > t)) continue;
      if (!pick || m < pick->micro || (m == pick->micro && g > layout.piece(r, pick->chunk)))
        pick = Action{Action::kInput, m, c};
    }
    if (!pick) {
      // A new micro-batch (chunk 0) only with room left for the chunk-1 forward of every one
      // in flight: a rank full of chunk-0 activations could never reach the loss.
      const int owed = next_f[r][0] - next_f[r][1];
      for (int c = 0; c < v; ++c) {
        const int m = next_f[r][c], g = layout.piece(r, c);
        if (m >= micro || (g > 0 && fwd[g - 1][m] > t)) continue;
        if (c == 0 ? held[r] + owed >= cap : held[r] >= cap) continue;
        if (!pick || g > layout.piece(r, pick->chunk)) pick = Action{Action::kForward, m, c};
      }
    }
    if (!pick && !pending_w[r].empty()) {
      pick = pending_w[r].front();
      pending_w[r].pop_front();
    }
    if (!pick) {
      stalled[r] = t;
      continue;
    }
    const double end = t + cost(r, *pick);
    const int g = layout.piece(r, pick->chunk);
    if (pick->kind == Action::kForward) {
      fwd[g][pick->micro] = end;
      ++next_f[r][pick->chunk];
      ++held[r];
    } else if (pick->kind == Action::kInput) {
      inp[g][pick->micro] = end;
      ++next_i[r][pick->chunk];
      pending_w[r].push_back({Action::kWeight, pick->micro, pick->chunk});
    } else {
      --held[r];
    }
    ends.push_back(end);
    free_at[r] = end;
    out[r].push_back(*pick);
  }
  return out;
}

}  // namespace parallax
