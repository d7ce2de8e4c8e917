// Pipeline schedules: lists of actions per stage, computed from (micro, stages, stage) alone.
#include "parallel/schedule.h"

#include <algorithm>

namespace parallax {

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

std::vector<Action> forward_schedule(int micro) {
  std::vector<Action> a;
  for (int m = 0; m < micro; ++m) a.push_back({Action::kForward, m});
  return a;
}

std::string to_string(const std::vector<Action>& actions) {
  std::string s;
  for (const auto& a : actions) {
    if (!s.empty()) s += ' ';
    s += (a.kind == Action::kForward ? 'F' : 'B') + std::to_string(a.micro);
  }
  return s;
}

int peak_in_flight(const std::vector<Action>& actions) {
  int live = 0, peak = 0;
  for (const auto& a : actions) {
    live += a.kind == Action::kForward ? 1 : -1;
    peak = std::max(peak, live);
  }
  return peak;
}

double theoretical_bubble(int micro, int stages) {
  return static_cast<double>(stages - 1) / static_cast<double>(micro + stages - 1);
}

}  // namespace parallax
