// LR schedules: constant, step (x0.1 at 50% and 75%), cosine to --min-lr, PyTorch's OneCycleLR.
#include "optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace parallax {
namespace {

const double kPi = std::acos(-1.0);

double cosine_between(double from, double to, double fraction) {
  return to + (from - to) * 0.5 * (1.0 + std::cos(kPi * std::clamp(fraction, 0.0, 1.0)));
}

}  // namespace

double lr_at(const LrSchedule& s, int64_t step) {
  const double total = static_cast<double>(std::max<int64_t>(s.total_steps, 1));
  if (s.kind == "onecycle") {
    // As torch.optim.lr_scheduler.OneCycleLR (cos annealing, div_factor 25, final 1e4).
    const double initial = s.base_lr / 25.0, final_lr = initial / 1e4;
    // The peak falls on step pct_start * total - 1, the end on step total - 1, as in PyTorch.
    const double peak =
        (s.warmup_steps > 0 ? static_cast<double>(s.warmup_steps) : 0.3 * total) - 1;
    if (step <= peak) return cosine_between(initial, s.base_lr, step / std::max(peak, 1.0));
    return cosine_between(s.base_lr, final_lr, (step - peak) / std::max(total - 1 - peak, 1.0));
  }
  if (step < s.warmup_steps) return s.base_lr * (step + 1) / static_cast<double>(s.warmup_steps);
  const double after = static_cast<double>(step - s.warmup_steps);
  const double span = std::max(total - s.warmup_steps, 1.0);
  if (s.kind == "step") {
    const double fraction = after / span;
    return s.base_lr * (fraction >= 0.75 ? 0.01 : fraction >= 0.5 ? 0.1 : 1.0);
  }
  if (s.kind == "cosine") return cosine_between(s.base_lr, s.min_lr, after / span);
  return s.base_lr;
}

}  // namespace parallax
