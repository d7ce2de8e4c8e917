// summary.json: the run's headline figures, computed from the trainer's records.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "config/config.h"
#include "metrics/heap.h"
#include "metrics/stragglers.h"
#include "parallel/strategy.h"
#include "metrics/train_records.h"
#include "train/sharded_checkpoint.h"

namespace parallax {

// What the summary needs beyond the config and the trainer's records.
struct RunFacts {
  int world_size = 1;
  int threads = 1;
  std::string device;
  std::string dataset_source;
  int64_t train_images = 0, test_images = 0;
  int64_t model_parameters = 0;
  // What the data is for, and a language model's tokens: per sample (the context), what one is
  // ("character", "byte" or "token"), and how many there are (the vocabulary).
  bool language_model = false;
  int64_t tokens_per_sample = 0;
  std::string token_unit;
  int64_t vocabulary = 0;
  double training_flops_per_sample = 0;  // models/model_flops.h
  double peak_flops_per_rank = 0;        // metrics/peak_flops.h, in the run's precision
  std::string peak_flops_source;
  std::vector<MemoryStats> rank_memory;  // index = rank
  std::vector<int64_t> rank_peak_rss;     // index = rank
  std::vector<DeviceMemory> rank_device_memory;  // index = rank; -1s off CUDA
  std::vector<MeasuredMemory> rank_measured_memory;  // index = rank; from the allocator
  std::vector<RankTiming> rank_timing;    // index = rank; each rank's own steps (stragglers)
  nlohmann::json details;                 // the strategy's own figures (Strategy::details)
  // Checkpoints: the format, this rank's last save and its load (a resumed run), and every
  // rank's, once gathered (index = rank).
  std::string checkpoint_format;
  CheckpointIo save_io, load_io;
  std::vector<std::pair<CheckpointIo, CheckpointIo>> rank_checkpoint_io;
  int64_t started_at = 0;                 // Unix seconds when this process began the run
  // "running" while epochs remain (the summary after an epoch), then "finished", "diverged"
  // (a non-finite or exploded loss stopped it) or "interrupted" (SIGINT/SIGTERM).
  std::string status = "running";
  std::string stop_reason;  // the one line that says why a run that did not finish stopped
  // What started the ranks: "parallax" (--nproc), "torchrun", "slurm", "mpi", or "none".
  std::string launcher = "none";
};

nlohmann::json make_summary(const Config& cfg, const TrainState& state, const RunFacts& facts);

}  // namespace parallax
