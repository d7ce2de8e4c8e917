// Pipeline schedules: lists of actions per rank, computed from (schedule, micro, layout, stage).
#include "parallel/schedule.h"

#include <algorithm>
#include <stdexcept>

#include "metrics/pipeline_bubble.h"

namespace parallax {

int PipelineLayout::piece(int stage, int chunk) const {
  if (v_shape) return chunk == 0 ? stage : 2 * stages - 1 - stage;
  return chunk * stages + stage;
}

int PipelineLayout::owner(int p) const {
  if (v_shape) return p < stages ? p : 2 * stages - 1 - p;
  return p % stages;
}

int PipelineLayout::chunk_of(int p) const {
  if (v_shape) return p < stages ? 0 : 1;
  return p / stages;
}

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names{"gpipe", "1f1b", "interleaved-1f1b",
                                              "zb-h1", "zb-h2", "zb-v"};
  return names;
}

PipelineLayout layout_for(const std::string& schedule, int stages, int chunks) {
  PipelineLayout l;
  l.stages = stages;
  l.chunks = schedule == "zb-v" ? 2 : schedule == "interleaved-1f1b" ? chunks : 1;
  l.v_shape = schedule == "zb-v";
  return l;
}

std::string schedule_problem(const std::string& schedule, int micro, const PipelineLayout& l) {
  if (std::find(schedule_names().begin(), schedule_names().end(), schedule) ==
      schedule_names().end())
    return "unknown schedule " + schedule;
  if (schedule == "interleaved-1f1b" && micro % l.stages != 0)
    return "interleaved-1f1b sends micro-batches round the ranks in groups of --nproc: " +
           std::to_string(micro) + " micro-batches is not a multiple of " +
           std::to_string(l.stages) + " stages; set --micro-batches to a multiple";
  if (schedule == "zb-v" && l.stages < 2)
    return "zb-v needs 2 or more pipeline ranks";
  return "";
}

std::vector<Action> gpipe_schedule(int micro, int stages, int stage) {
  std::vector<Action> a;
  for (int m = 0; m < micro; ++m) a.push_back({Action::kForward, m});
  for (int m = 0; m < micro; ++m) a.push_back({Action::kBackward, m});
  return a;
}

std::vector<Action> one_f_one_b_schedule(int micro, int stages, int stage) {
  // The last stage starts backward right after each forward; earlier stages run ahead by one
  // micro-batch per stage after them, so their backward inputs arrive just in time.
  const int warmup = std::min(stages - stage - 1, micro);
  std::vector<Action> a;
  for (int m = 0; m < warmup; ++m) a.push_back({Action::kForward, m});
  for (int m = warmup; m < micro; ++m) {
    a.push_back({Action::kForward, m});
    a.push_back({Action::kBackward, m - warmup});
  }
  for (int m = micro - warmup; m < micro; ++m) a.push_back({Action::kBackward, m});
  return a;
}

std::vector<Action> interleaved_schedule(int micro, int stages, int chunks, int stage) {
  const int p = stages, v = chunks, total = micro * chunks;
  // This rank's forwards: micro-batches in groups of p (the last group may be smaller) through
  // chunk 0, then chunk 1, ...; its backwards likewise from the last chunk down.
  std::vector<Action> forwards, backwards;
  for (int first = 0; first < micro; first += p) {
    const int n = std::min(p, micro - first);
    for (int c = 0; c < v; ++c)
      for (int i = 0; i < n; ++i) {
        forwards.push_back({Action::kForward, first + i, c});
        backwards.push_back({Action::kBackward, first + i, v - 1 - c});
      }
  }
  const int warmup = std::min(total, 2 * (p - stage - 1) + (v - 1) * p);
  std::vector<Action> a(forwards.begin(), forwards.begin() + warmup);
  for (int k = warmup; k < total; ++k) {
    a.push_back(forwards[k]);
    a.push_back(backwards[k - warmup]);
  }
  a.insert(a.end(), backwards.begin() + (total - warmup), backwards.end());
  return a;
}

namespace {

// 1F1B's order with each B split into I and W, `extra` more warm-up forwards, and the W's of
// stage s lagging lag(s) I's behind: the later stages run their I's (which the earlier stages
// wait for) first, and the lagging W's fill the drain, where 1F1B's stages wait.
std::vector<Action> split_backward(int micro, int stages, int stage, int extra, int lag) {
  const int warmup = std::min(micro, stages - 1 - stage + extra);
  std::vector<Action> a;
  int next_f = 0, next_i = 0, next_w = 0;
  auto input = [&] {
    a.push_back({Action::kInput, next_i});
    if (next_i++ >= lag) a.push_back({Action::kWeight, next_w++});
  };
  while (next_f < warmup) a.push_back({Action::kForward, next_f++});
  while (next_f < micro) {
    a.push_back({Action::kForward, next_f++});
    input();
  }
  while (next_i < micro) input();
  while (next_w < micro) a.push_back({Action::kWeight, next_w++});
  return a;
}

}  // namespace

std::vector<Action> zb_h1_schedule(int micro, int stages, int stage) {
  return split_backward(micro, stages, stage, 0, stage);
}

std::vector<Action> zb_h2_schedule(int micro, int stages, int stage) {
  return split_backward(micro, stages, stage, stages - 1 - stage, 2 * stage);
}

std::vector<Action> make_schedule(const std::string& schedule, int micro,
                                  const PipelineLayout& layout, int stage) {
  const int p = layout.stages;
  if (schedule == "gpipe") return gpipe_schedule(micro, p, stage);
  if (schedule == "1f1b") return one_f_one_b_schedule(micro, p, stage);
  if (schedule == "interleaved-1f1b") return interleaved_schedule(micro, p, layout.chunks, stage);
  if (schedule == "zb-h1") return zb_h1_schedule(micro, p, stage);
  if (schedule == "zb-h2") return zb_h2_schedule(micro, p, stage);
  if (schedule == "zb-v") return zb_v_schedules(micro, p)[stage];
  throw std::invalid_argument("unknown pipeline schedule " + schedule);
}

std::vector<Action> forward_schedule(int micro, const PipelineLayout& layout, int stage) {
  // Chunk by chunk, as GPipe's forward: a rank's chunks are in piece order in both layouts, and
  // nothing is held for a backward.
  std::vector<Action> a;
  for (int c = 0; c < layout.chunks; ++c)
    for (int m = 0; m < micro; ++m) a.push_back({Action::kForward, m, c});
  (void)stage;
  return a;
}

std::vector<Action> forward_schedule(int micro) {
  return forward_schedule(micro, PipelineLayout{}, 0);
}

std::string to_string(const Action& a) {
  static const char kinds[] = {'F', 'B', 'I', 'W'};
  std::string s(1, kinds[a.kind]);
  s += std::to_string(a.micro);
  if (a.chunk > 0) s += "." + std::to_string(a.chunk);
  return s;
}

std::string to_string(const std::vector<Action>& actions) {
  std::string s;
  for (const auto& a : actions) {
    if (!s.empty()) s += ' ';
    s += to_string(a);
  }
  return s;
}

int peak_in_flight(const std::vector<Action>& actions) {
  int live = 0, peak = 0;
  for (const auto& a : actions) {
    if (a.kind == Action::kForward) ++live;
    if (a.kind == Action::kBackward || a.kind == Action::kWeight) --live;
    peak = std::max(peak, live);
  }
  return peak;
}

double bubble_theory(const std::string& schedule, int micro, int stages, int chunks) {
  const double p = stages, m = micro;
  if (schedule == "interleaved-1f1b") return (p - 1) / (chunks * m + p - 1);
  if (schedule == "zb-h1" || schedule == "zb-h2") return (p - 1) / (3 * m + p - 1);
  if (schedule == "zb-v") return (p - 1) / (6 * m + p - 1);
  return theoretical_bubble(StageCount(stages), MicroBatchCount(micro));
}

}  // namespace parallax
