// Pipeline schedules as data: for one stage, the ordered list of forward and backward actions on
// micro-batches. Pure functions, tested against tables; one executor walks any of them.
#pragma once
#include <string>
#include <vector>

namespace parallax {

struct Action {
  enum Kind { kForward, kBackward } kind;
  int micro;  // micro-batch index, 0-based
  bool operator==(const Action& o) const { return kind == o.kind && micro == o.micro; }
};

// GPipe: every micro-batch forward, then every backward (in the same order). A stage holds the
// activations of all `micro` micro-batches at once.
std::vector<Action> gpipe_schedule(int micro, int stages, int stage);

// 1F1B (PipeDream-Flush): stage s runs min(stages - s - 1, micro) forwards to fill the pipe, then
// alternates one forward and one backward, then drains the backwards. Same bubble as GPipe, but a
// stage holds at most stages - s micro-batches' activations.
std::vector<Action> one_f_one_b_schedule(int micro, int stages, int stage);

// Forward only (evaluation): F0 .. F(micro-1).
std::vector<Action> forward_schedule(int micro);

// "F0 F1 B0 B1": for messages and tests.
std::string to_string(const std::vector<Action>& actions);

// Most micro-batches whose forward has run and whose backward has not, at any point: how many
// micro-batches' activations the stage holds at its peak.
int peak_in_flight(const std::vector<Action>& actions);

// The idle share of a step in a perfectly balanced pipeline: (stages - 1) / (micro + stages - 1).
double theoretical_bubble(int micro, int stages);

}  // namespace parallax
