// LossScaler: back off at once on overflow, grow only after a long run of finite steps.
#include "optim/loss_scaler.h"

#include <algorithm>

namespace parallax {

bool LossScaler::update(bool finite) {
  if (!finite) {
    scale_ = std::max(o_.min_scale, scale_ * o_.backoff_factor);
    streak_ = 0;
    ++skipped_;
    return false;
  }
  if (++streak_ >= o_.growth_interval) {
    scale_ *= o_.growth_factor;
    streak_ = 0;
  }
  return true;
}

}  // namespace parallax
