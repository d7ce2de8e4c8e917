// How a training run stops before it finishes, and the exit codes `parallax train` gives for it.
#pragma once
#include <cstdint>
#include <stdexcept>

#include "config/exit_codes.h"

namespace parallax {

// A step whose loss or gradient norm is not finite: training stops there (the step is recorded
// first).
struct Diverged : std::runtime_error {
  Diverged(int64_t step, double loss, double grad_norm);
  int64_t step;
  double loss, grad_norm;
};

// Training asked to stop (SIGINT/SIGTERM) after this step; the last checkpoint stays the one to
// resume from.
struct Interrupted : std::runtime_error {
  explicit Interrupted(int64_t step);
  int64_t step;
};

}  // namespace parallax
