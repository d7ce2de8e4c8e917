// ZB-V from the zero-bubble paper's heuristic, played out on unit costs (F = I = W = 1
// per chunk, transfers free): at each tick, each free rank takes, in this order,
//   1. the ready I of the earliest micro-batch (the later piece first): someone waits for it;
//   2. a ready F, if it holds fewer micro-batch chunks than its cap (the later piece first: it
//      brings that micro-batch's backward nearer);
//   3. its oldest pending W;
// else it idles. The lists are the order each rank took its actions in, so any real timing can
// run them (every input an action needs came from an action that ran before it in this play).
#include <algorithm>
#include <deque>
#include <optional>
#include <stdexcept>

#include "parallel/schedule.h"

namespace parallax {

std::vector<std::vector<Action>> zb_v_schedules(int micro, int stages) {
  const PipelineLayout layout = layout_for("zb-v", stages, 2);
  const std::vector<int> caps(stages, 2 * stages);
  const int p = layout.stages, v = layout.chunks, pieces = layout.pieces(), last = pieces - 1;
  constexpr int kNever = 1 << 30;
  // Ticks at which each piece's forward and input gradient of each micro-batch end.
  std::vector<std::vector<int>> fwd(pieces, std::vector<int>(micro, kNever)), inp = fwd;
  std::vector<std::vector<Action>> out(p);
  std::vector<std::vector<int>> next_f(p, std::vector<int>(v, 0)), next_i = next_f;
  std::vector<std::deque<Action>> pending_w(p);
  std::vector<int> held(p, 0), done(p, 0);
  const int total = 3 * micro * v;  // actions per rank
  for (int t = 0; *std::min_element(done.begin(), done.end()) < total; ++t) {
    if (t > 100 * total) throw std::logic_error("zero-bubble schedule: no progress");
    for (int r = 0; r < p; ++r) {
      std::optional<Action> pick;
      // 1. Input gradients, earliest micro-batch, later piece first.
      for (int c = 0; c < v; ++c) {
        const int m = next_i[r][c], g = layout.piece(r, c);
        if (m >= micro || fwd[g][m] > t || (g < last && inp[g + 1][m] > t)) continue;
        if (!pick || m < pick->micro ||
            (m == pick->micro && g > layout.piece(r, pick->chunk)))
          pick = Action{Action::kInput, m, c};
      }
      // 2. Forwards under the cap, later piece first.
      if (!pick && held[r] < caps[r]) {
        for (int c = 0; c < v; ++c) {
          const int m = next_f[r][c], g = layout.piece(r, c);
          if (m >= micro || (g > 0 && fwd[g - 1][m] > t)) continue;
          if (!pick || g > layout.piece(r, pick->chunk)) pick = Action{Action::kForward, m, c};
        }
      }
      // 3. The oldest weight gradient.
      if (!pick && !pending_w[r].empty()) {
        pick = pending_w[r].front();
        pending_w[r].pop_front();
      }
      if (!pick) continue;
      const int g = layout.piece(r, pick->chunk);
      if (pick->kind == Action::kForward) {
        fwd[g][pick->micro] = t + 1;
        ++next_f[r][pick->chunk];
        ++held[r];
      } else if (pick->kind == Action::kInput) {
        inp[g][pick->micro] = t + 1;
        ++next_i[r][pick->chunk];
        pending_w[r].push_back({Action::kWeight, pick->micro, pick->chunk});
      } else {
        --held[r];
      }
      out[r].push_back(*pick);
      ++done[r];
    }
  }
  return out;
}

}  // namespace parallax
