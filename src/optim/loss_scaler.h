// LossScaler: fp16's dynamic loss scale, as torch.amp.GradScaler keeps it. The loss is multiplied
// by scale() before backward, so that small gradients do not flush to zero in fp16; gradients
// are divided by it before the update. A step whose gradients hold inf or nan is skipped and the
// scale backs off; after growth_interval good steps in a row it grows. Pure: no tensors.
#pragma once
#include <cstdint>

namespace parallax {

struct LossScalerOptions {
  double init_scale = 65536.0;  // 2^16, GradScaler's default
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  double min_scale = 1.0;  // never below: a scale under 1 would shrink fp16 gradients further
};

class LossScaler {
 public:
  explicit LossScaler(LossScalerOptions options = {}) : o_(options), scale_(options.init_scale) {}

  double scale() const { return scale_; }
  // After the step's gradients are known: finite false skips the step. Returns whether the
  // optimizer may step.
  bool update(bool finite);
  int64_t skipped() const { return skipped_; }  // steps skipped so far
  // At its floor an overflow is no longer the scale's doing: the run has diverged.
  bool at_floor() const { return scale_ <= o_.min_scale; }
  int64_t good_streak() const { return streak_; }
  // For checkpoints: the scale and the streak travel with the run.
  void restore(double scale, int64_t streak, int64_t skipped) {
    scale_ = scale;
    streak_ = streak;
    skipped_ = skipped;
  }

 private:
  LossScalerOptions o_;
  double scale_;
  int64_t streak_ = 0, skipped_ = 0;
};

}  // namespace parallax
