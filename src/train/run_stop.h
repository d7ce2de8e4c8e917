// How a training run stops before it finishes, and the exit codes `parallax train` gives for it.
#pragma once
#include <cstdint>
#include <stdexcept>

#include "config/exit_codes.h"

namespace parallax {

// A step whose loss or gradient norm is not finite, or whose loss is beyond exploded_loss_bound:
// training stops there (the step is recorded first). `bound` is the bound it passed (0: not
// finite).
struct Diverged : std::runtime_error {
  Diverged(int64_t step, double loss, double grad_norm, double bound = 0);
  int64_t step;
  double loss, grad_norm;
};

// The loss beyond which a finite loss has exploded: 100 x the larger of ln(classes) and the run's
// first measured loss (trainer.cpp says why).
double exploded_loss_bound(int64_t classes, double first_loss);

// Training asked to stop (SIGINT/SIGTERM) after this step; the last checkpoint stays the one to
// resume from.
struct Interrupted : std::runtime_error {
  explicit Interrupted(int64_t step);
  int64_t step;
};

}  // namespace parallax
