// Sharded checkpoints (--checkpoint-format sharded): each rank writes only the pieces it holds
// (parallel/state_pieces.h), in parallel, into RUN_DIR/checkpoint/step-<N>/rank<R>.bin with its
// index rank<R>.json; once every rank has, rank 0 writes RUN_DIR/checkpoint.json, atomically and
// last, which names that folder and so marks it complete (a kill before leaves the previous one
// named). A load reads every rank's index and fills this rank's pieces in place: a piece stored
// as it is wanted is read straight in; otherwise its tensor is put together from the stored
// pieces, one tensor at a time, and cut as this rank's layout wants. So any world size and
// strategy resumes, and no rank holds more than its own state plus one tensor of the model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "distributed/dist_context.h"
#include "metrics/train_records.h"
#include "parallel/strategy.h"

namespace parallax {

class ShardedCheckpointReader;

// A rank's figures for one checkpoint save or load, measured.
struct CheckpointIo {
  double seconds = 0;
  // Load: the bytes of the state the rank keeps (the storages under its parameters, buffers and
  // optimizer state), and its peak while loading: those plus the most the load held at once
  // only for reading (staging, one tensor put together), each block as the allocator sized it.
  // A consolidated load's peak: the allocator's count where it held the most (the archive, then
  // the strategy's copies from it) less its count once all of that is freed, on top. -1 where
  // not measured.
  int64_t peak_bytes = -1, state_bytes = -1;
};

// RUN_DIR/checkpoint.json: present once a sharded checkpoint is complete.
std::string sharded_checkpoint_path(const std::string& run_dir);

// Every rank calls it; returns this rank's time writing.
CheckpointIo save_sharded_checkpoint(const std::string& run_dir, Strategy& strategy,
                                     const TrainState& state, const DistContext& ctx);
// The pieces land where the strategy's tensors are (on the rank's device).
TrainState load_sharded_checkpoint(const std::string& run_dir, Strategy& strategy,
                                   CheckpointIo* io = nullptr);

// One device's model (its parameters and buffers) from a sharded checkpoint: export, sample.
void load_sharded_model(const std::string& run_dir, ModelBlocks& model);
void load_sharded_model(ShardedCheckpointReader& checkpoint, ModelBlocks& model);

}  // namespace parallax
