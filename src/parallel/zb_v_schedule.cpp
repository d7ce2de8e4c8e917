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
#include <utility>

#include "parallel/schedule.h"

namespace parallax {
namespace {

constexpr double kZbvNever = std::numeric_limits<double>::infinity();
constexpr int kZbvChunks = 2;

// The play so far: when each piece's forward and input gradient of each micro-batch end, and per
// rank its list, the next micro-batch per chunk, its pending W's, the chunks it holds, and when
// it is next free.
struct ZbvPlay {
  PipelineLayout layout;
  int p = 0, micro = 0, last = 0, cap = 0;
  size_t total = 0;  // actions per rank
  std::vector<std::vector<double>> fwd, inp;
  std::vector<std::vector<Action>> out;
  std::vector<std::vector<int>> next_f, next_i;
  std::vector<std::deque<Action>> pending_w;
  std::vector<int> held;
  std::vector<double> free_at;
  std::vector<double> ends;     // of every action taken so far
  std::vector<double> stalled;  // the time a rank last found nothing to do
};

ZbvPlay zbv_start(int micro, int stages) {
  ZbvPlay s;
  s.layout = layout_for("zb-v", stages, kZbvChunks);
  s.p = stages;
  s.micro = micro;
  s.last = s.layout.pieces() - 1;
  s.cap = 2 * s.p;
  s.total = 3 * static_cast<size_t>(micro) * kZbvChunks;
  s.fwd.assign(s.layout.pieces(), std::vector<double>(micro, kZbvNever));
  s.inp = s.fwd;
  s.out.resize(s.p);
  s.next_f.assign(s.p, std::vector<int>(kZbvChunks, 0));
  s.next_i = s.next_f;
  s.pending_w.resize(s.p);
  s.held.assign(s.p, 0);
  s.free_at.assign(s.p, 0);
  s.stalled.assign(s.p, -1);
  return s;
}

double zbv_cost(const std::vector<std::vector<std::array<double, 3>>>* times, int r,
                const Action& a) {
  if (!times) return 1.0;
  const int k = a.kind == Action::kForward ? 0 : a.kind == Action::kInput ? 1 : 2;
  return (*times)[r][a.chunk][k];
}

bool zbv_unfinished(const ZbvPlay& s, int q) {
  return s.out[q].size() < s.total;
}

// The earliest time a rank with actions left is free; everything ending by then is known.
double zbv_next_free(const ZbvPlay& s) {
  double t = kZbvNever;
  for (int q = 0; q < s.p; ++q)
    if (zbv_unfinished(s, q)) t = std::min(t, s.free_at[q]);
  return t;
}

// The first rank free at t that has not already found nothing to do then; -1 if none.
int zbv_rank_to_move(const ZbvPlay& s, double t) {
  int r = -1;
  for (int q = 0; q < s.p && r < 0; ++q)
    if (zbv_unfinished(s, q) && s.free_at[q] == t && s.stalled[q] != t) r = q;
  return r;
}

// Every rank free at t waits: on to the next action's end, or the next rank's decision.
void zbv_wait(ZbvPlay& s, double t) {
  double next = kZbvNever;
  for (double e : s.ends)
    if (e > t) next = std::min(next, e);
  for (int q = 0; q < s.p; ++q)
    if (zbv_unfinished(s, q) && s.free_at[q] > t) next = std::min(next, s.free_at[q]);
  if (next == kZbvNever) throw std::logic_error("zb-v schedule: a rank waits forever");
  for (int q = 0; q < s.p; ++q)
    if (s.free_at[q] == t) s.free_at[q] = next;
}

// The ready I of the earliest micro-batch, the later piece first.
std::optional<Action> zbv_ready_input(const ZbvPlay& s, int r, double t) {
  std::optional<Action> pick;
  for (int c = 0; c < kZbvChunks; ++c) {
    const int m = s.next_i[r][c], g = s.layout.piece(r, c);
    if (m >= s.micro || s.fwd[g][m] > t || (g < s.last && s.inp[g + 1][m] > t)) continue;
    if (!pick || m < pick->micro || (m == pick->micro && g > s.layout.piece(r, pick->chunk)))
      pick = Action{Action::kInput, m, c};
  }
  return pick;
}

// A ready F within the cap, the later piece first.
std::optional<Action> zbv_ready_forward(const ZbvPlay& s, int r, double t) {
  std::optional<Action> pick;
  // A new micro-batch (chunk 0) only with room left for the chunk-1 forward of every one in
  // flight: a rank full of chunk-0 activations could never reach the loss.
  const int owed = s.next_f[r][0] - s.next_f[r][1];
  for (int c = 0; c < kZbvChunks; ++c) {
    const int m = s.next_f[r][c], g = s.layout.piece(r, c);
    if (m >= s.micro || (g > 0 && s.fwd[g - 1][m] > t)) continue;
    if (c == 0 ? s.held[r] + owed >= s.cap : s.held[r] >= s.cap) continue;
    if (!pick || g > s.layout.piece(r, pick->chunk)) pick = Action{Action::kForward, m, c};
  }
  return pick;
}

// Rank r's next action at t by the heuristic's order: I, then F, then its oldest W.
std::optional<Action> zbv_pick(ZbvPlay& s, int r, double t) {
  std::optional<Action> pick = zbv_ready_input(s, r, t);
  if (!pick) pick = zbv_ready_forward(s, r, t);
  if (!pick && !s.pending_w[r].empty()) {
    pick = s.pending_w[r].front();
    s.pending_w[r].pop_front();
  }
  return pick;
}

// Rank r takes `a`, which ends at `end`.
void zbv_take(ZbvPlay& s, int r, const Action& a, double end) {
  const int g = s.layout.piece(r, a.chunk);
  if (a.kind == Action::kForward) {
    s.fwd[g][a.micro] = end;
    ++s.next_f[r][a.chunk];
    ++s.held[r];
  } else if (a.kind == Action::kInput) {
    s.inp[g][a.micro] = end;
    ++s.next_i[r][a.chunk];
    s.pending_w[r].push_back({Action::kWeight, a.micro, a.chunk});
  } else {
    --s.held[r];
  }
  s.ends.push_back(end);
  s.free_at[r] = end;
  s.out[r].push_back(a);
}

}  // namespace

std::vector<std::vector<Action>> zb_v_schedules(
    int micro, int stages, const std::vector<std::vector<std::array<double, 3>>>* times) {
  ZbvPlay s = zbv_start(micro, stages);
  for (size_t steps = 0;; ++steps) {
    if (steps > 1000 * s.total) throw std::logic_error("zb-v schedule: no progress");
    const double t = zbv_next_free(s);
    if (t == kZbvNever) break;
    const int r = zbv_rank_to_move(s, t);
    if (r < 0) {
      zbv_wait(s, t);
      continue;
    }
    const std::optional<Action> pick = zbv_pick(s, r, t);
    if (!pick) {
      s.stalled[r] = t;
      continue;
    }
    zbv_take(s, r, *pick, t + zbv_cost(times, r, *pick));
  }
  return std::move(s.out);
}

}  // namespace parallax
