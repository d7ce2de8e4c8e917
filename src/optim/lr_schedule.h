// Learning-rate schedules as pure functions of the global step (so resuming needs no state).
#pragma once
#include <cstdint>
#include <string>

namespace parallax {

struct LrSchedule {
  std::string kind = "constant";  // constant | step | cosine | onecycle
  double base_lr = 0.1;
  int64_t warmup_steps = 0;  // linear from 0 (onecycle: its own warm-up, 30% unless given)
  int64_t total_steps = 1;
  double min_lr = 0;  // cosine's floor (nanoGPT's min_lr)
};

// Learning rate for the optimizer step with this 0-based index.
double lr_at(const LrSchedule& s, int64_t step);

}  // namespace parallax
