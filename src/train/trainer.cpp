// The training loop; every figure it records goes into TrainState for the run directory.
#include "train/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <thread>

#include "metrics/clock.h"
#include "optim/lr_schedule.h"

namespace parallax {

Interrupted::Interrupted(int64_t s)
    : std::runtime_error("interrupted after step " + std::to_string(s) +
                         "; --resume continues from the last checkpoint, if one was written"),
      step(s) {}

namespace {

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

Diverged::Diverged(int64_t s, double l, double g, double bound)
    : std::runtime_error(
          "training diverged at step " + std::to_string(s) + " (loss " + number_text(l) +
          (bound > 0 ? ", beyond " + number_text(bound) +
                           " = 100x the larger of ln(classes) and the first step's loss;"
                     : std::string(",")) +
          " gradient norm " + number_text(g) + "): lower --lr (or add --warmup), then train again"),
      step(s),
      loss(l),
      grad_norm(g) {}

// Cross-entropy over C classes is ln C for a uniform guess, about where a freshly initialised
// model starts; the first measured loss stands for a model that starts elsewhere (--init-from, a
// larger initial scale). A run that learns goes down from there, and a spike it recovers from
// stays within a few times that. At 100x the larger of the two (230 for 10 classes, 1080 for
// GPT-2's 50257 tokens) the logits have grown by orders of magnitude in a wrong direction: the
// softmax is saturated at chance accuracy and the step size that got it there does not bring it
// back (at --lr 50 resnet20 passes 1e10 in 20 steps and never returns). So the bound is far above
// any loss a learning run records, and far below where a float overflows into the NaN that the
// non-finite check would catch many steps later, or never.
double exploded_loss_bound(int64_t classes, double first_loss) {
  const double uniform = classes >= 2 ? std::log(static_cast<double>(classes)) : 0.0;
  return 100 * std::max(uniform, first_loss);
}

Trainer::Trainer(const Config& cfg, Strategy& strategy, Loader& train, Loader& test,
                 int64_t classes, bool verbose, EpochHook on_epoch, StepHook on_step)
    : cfg_(cfg),
      strategy_(strategy),
      train_(train),
      test_(test),
      classes_(classes),
      verbose_(verbose),
      on_epoch_(std::move(on_epoch)),
      on_step_(std::move(on_step)),
      progress_(stderr, cfg.epochs, train.batches()) {
  if (train.targets_per_sample() > 1) progress_.set_language_model(train.targets_per_sample());
}

double Trainer::loss_bound(const TrainState& state) {
  if (std::isnan(first_loss_))  // the run's first step, kept in its records across resumes
    for (const auto& r : state.steps)
      if (!r.skipped && std::isfinite(r.loss)) {
        first_loss_ = r.loss;
        break;
      }
  return exploded_loss_bound(classes_, std::isnan(first_loss_) ? 0.0 : first_loss_);
}

int64_t Trainer::total_steps() const {
  const int64_t all_epochs = cfg_.epochs * train_.batches();
  return cfg_.steps > 0 ? std::min(cfg_.steps, all_epochs) : all_epochs;
}

EpochRecord Trainer::train_epoch(TrainState& state, int64_t epoch) {
  LrSchedule schedule{cfg_.lr_schedule, cfg_.lr,
                      static_cast<int64_t>(cfg_.warmup * static_cast<double>(train_.batches())),
                      total_steps(), cfg_.min_lr};
  EpochRecord r;
  r.epoch = epoch;
  // A checkpoint taken within this epoch resumes it at its next batch, with its sums so far:
  // the batches, their order and augmentation depend on (seed, epoch, index) alone.
  EpochProgress& so_far = state.in_epoch;
  const double time_before = so_far.train_time_s;
  const Stopwatch epoch_watch;
  train_.set_epoch(epoch);
  for (int64_t i = so_far.steps; i < train_.batches() && state.step < total_steps(); ++i) {
    const Stopwatch step_watch;
    const double lr = lr_at(schedule, state.step);
    strategy_.set_lr(lr);
    const Batch batch = train_.batch(i);
    const double data_s = step_watch.seconds();
    if (delay_s_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(delay_s_));
    const StepStats s = strategy_.train_step(batch);
    StepRecord rec;
    rec.step = state.step++;
    rec.epoch = epoch;
    rec.images = s.images;
    rec.correct = s.correct;
    rec.loss = s.loss;
    rec.lr = lr;
    rec.data_s = data_s;
    rec.compute_s = s.compute_s;
    rec.comm_s = s.comm_s;
    rec.comm_busy_s = s.comm_busy_s;
    rec.gather_wait_s = s.gather_wait_s;
    rec.idle_s = s.idle_s;
    rec.loss_scale = s.loss_scale;
    rec.skipped = s.skipped;
    rec.grad_norm = s.grad_norm;
    rec.step_s = step_watch.seconds();
    state.steps.push_back(rec);
    // Every rank sees the same (global) loss, so every rank stops at the same step.
    // An fp16 step that overflowed was skipped (the loss scale backs off): no harm done.
    if (!s.skipped && (!std::isfinite(s.loss) || !std::isfinite(s.grad_norm)))
      throw Diverged(rec.step, s.loss, s.grad_norm);
    if (!s.skipped && s.loss > loss_bound(state))
      throw Diverged(rec.step, s.loss, s.grad_norm, loss_bound(state));
    if (s.stop) throw Interrupted(rec.step);
    if (std::isfinite(s.loss)) so_far.loss_sum += s.loss * s.images;  // a skipped fp16 step's may not be
    so_far.images += s.images;
    so_far.correct += s.correct;
    ++so_far.steps;
    so_far.train_time_s = time_before + epoch_watch.seconds();
    r.lr = lr;
    if (verbose_) progress_.step(epoch, i, s.loss, so_far.images / so_far.train_time_s);
    if (on_step_) on_step_(state);
  }
  r.steps = so_far.steps;
  r.train_time_s = time_before + epoch_watch.seconds();
  r.train_loss = so_far.images ? so_far.loss_sum / so_far.images : 0;
  // Right answers per target: an image's label, or each next token of a text window.
  const double targets = static_cast<double>(so_far.images * train_.targets_per_sample());
  r.train_accuracy = so_far.images ? static_cast<double>(so_far.correct) / targets : 0;
  r.images_per_sec = r.train_time_s > 0 ? so_far.images / r.train_time_s : 0;
  state.in_epoch = {};
  return r;
}

bool Trainer::finished(const TrainState& state) const {
  return state.next_epoch >= cfg_.epochs || state.step >= total_steps() ||
         (cfg_.stop_at_target && state.epochs_to_target > 0);
}

void Trainer::run(TrainState& state) {
  auto done = [&] { return finished(state); };
  for (int64_t epoch = state.next_epoch; !done(); ++epoch) {
    EpochRecord r = train_epoch(state, epoch);
    const Stopwatch eval_watch;
    const EvalStats eval = strategy_.evaluate(test_);
    r.eval_time_s = eval_watch.seconds();
    r.test_loss = eval.loss();
    r.test_accuracy = eval.total ? static_cast<double>(eval.correct) /
                                       static_cast<double>(eval.total * test_.targets_per_sample())
                                 : 0;
    r.elapsed_train_s =
        (state.epochs.empty() ? 0 : state.epochs.back().elapsed_train_s) + r.train_time_s;
    state.epochs.push_back(r);
    state.next_epoch = epoch + 1;

    const bool reached = (cfg_.target_accuracy > 0 && r.test_accuracy >= cfg_.target_accuracy) ||
                         (cfg_.target_loss > 0 && r.test_loss <= cfg_.target_loss);
    if (state.epochs_to_target < 0 && reached) {
      state.epochs_to_target = epoch + 1;
      state.time_to_target_s = r.elapsed_train_s;
    }
    if (verbose_) {
      const double per_epoch = r.elapsed_train_s / static_cast<double>(state.epochs.size());
      const double eta = done() ? 0 : per_epoch * static_cast<double>(cfg_.epochs - epoch - 1);
      progress_.epoch(r, eta);
    }
    if (on_epoch_) on_epoch_(state);
  }
}

}  // namespace parallax
