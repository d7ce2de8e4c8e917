// What a training run writes as it trains: checkpoints, steps.csv and epochs.csv, summary.json,
// TensorBoard's scalars and traces; and, for a run that stops early, why.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "distributed/dist_context.h"
#include "metrics/tensorboard_log.h"
#include "metrics/train_records.h"
#include "parallel/strategy.h"
#include "train/summary.h"

namespace parallax {

// The trainer's hooks for one run's files. Every rank calls each of them: checkpoints and the
// per-rank memory figures are collectives; rank 0 alone writes the files.
class RunOutputs {
 public:
  using EpochHook = std::function<void(const TrainState&)>;

  // Opens the TensorBoard log (rank 0, with --tensorboard). after_epoch runs once an epoch's
  // checkpoint and files are on disk; cfg, ctx, strategy, facts and after_epoch must outlive this.
  RunOutputs(const Config& cfg, const DistContext& ctx, std::string run_dir, Strategy& strategy,
             RunFacts& facts, bool verbose, const EpochHook& after_epoch);

  // After each epoch's evaluation: the checkpoint, the memory figures, then rank 0's files.
  void epoch_done(const TrainState& s);
  // After each training step: TensorBoard's scalars, and the checkpoint every --checkpoint-every
  // steps, except on the step that ends an epoch of epoch_batches or the --steps budget (the
  // epoch's end writes its own).
  void step_done(const TrainState& s, int64_t epoch_batches);
  // A run that stops early (divergence, an interrupt) keeps its last good checkpoint and says why
  // in summary.json and the database; all ranks stop at one step and call this.
  void record_stop(const TrainState& state, const std::string& status, const std::string& why);
  // The run trained to its end: its files completed (files_behind: no epoch wrote them, as when
  // a resumed run had nothing left to train), summary.json says "finished", and it is recorded.
  void finish(const TrainState& state, bool files_behind);

 private:
  void write_summary(const TrainState& s);

  const Config& cfg_;
  const DistContext& ctx_;
  const std::string run_dir_;
  Strategy& strategy_;
  RunFacts& facts_;
  const bool verbose_;
  const EpochHook& after_epoch_;
  std::unique_ptr<TensorboardLog> tensorboard_;  // rank 0's, with --tensorboard
};

}  // namespace parallax
