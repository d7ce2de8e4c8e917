// Trainer: epochs of steps, evaluation after each, LR schedule, target accuracy, checkpoints.
#pragma once
#include <functional>
#include <limits>

#include "config/config.h"
#include "data/loader.h"
#include "parallel/strategy.h"
#include "train/progress.h"
#include "train/run_stop.h"
#include "metrics/train_records.h"

namespace parallax {

class Trainer {
 public:
  // Called after each epoch's evaluation, e.g. to write a checkpoint and the run's files.
  using EpochHook = std::function<void(const TrainState&)>;
  // Called on every rank after each training step, with the state as it stands: its last
  // StepRecord is the step's, in_epoch holds the epoch so far (e.g. to write a checkpoint every
  // N steps, or TensorBoard scalars).
  using StepHook = std::function<void(const TrainState&)>;

  // classes: the task's (a language model's vocabulary), for the exploded-loss bound.
  Trainer(const Config& cfg, Strategy& strategy, Loader& train, Loader& test, int64_t classes,
          bool verbose, EpochHook on_epoch = nullptr, StepHook on_step = nullptr);

  // Continues from state (a fresh TrainState or one loaded from a checkpoint, at an epoch's end
  // or within one) until the epochs, the step budget or the target accuracy is exhausted.
  // Throws Diverged at the first step whose loss is NaN or infinite, or beyond
  // exploded_loss_bound (run_stop.h).
  void run(TrainState& state);
  // Nothing left to train from state: epochs, step budget or target accuracy exhausted.
  bool finished(const TrainState& state) const;
  // Each training step works `seconds` longer on this rank (train/planted_delay.h: tests only).
  void delay_each_step(double seconds) { delay_s_ = seconds; }

 private:
  int64_t total_steps() const;
  double loss_bound(const TrainState& state);  // exploded_loss_bound for this run
  EpochRecord train_epoch(TrainState& state, int64_t epoch);

  const Config& cfg_;
  Strategy& strategy_;
  Loader& train_;
  Loader& test_;
  int64_t classes_;
  double first_loss_ = std::numeric_limits<double>::quiet_NaN();  // found in the step records
  bool verbose_;
  EpochHook on_epoch_;
  StepHook on_step_;
  double delay_s_ = 0;
  Progress progress_;
};

}  // namespace parallax
