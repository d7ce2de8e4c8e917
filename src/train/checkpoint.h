// Checkpoints: model, optimizer and trainer state in one archive, replaced atomically each epoch.
#pragma once
#include <string>

#include "config/config.h"
#include "data/dataset.h"
#include "parallel/strategy.h"
#include "metrics/train_records.h"
#include "train/sharded_checkpoint.h"

namespace CLI {
class App;
}

namespace parallax {

// The consolidated checkpoint's file (--checkpoint-format consolidated).
std::string checkpoint_path(const std::string& run_dir);
// Whether run_dir holds a checkpoint of either format, and whether its latest is the sharded one
// (both are there only when a kill came between a save and its removal of the other format's).
bool has_checkpoint(const std::string& run_dir);
bool latest_checkpoint_is_sharded(const std::string& run_dir);
// Whether cfg's checkpoints are sharded: --checkpoint-format, auto resolved for a world of
// `world` ranks (sharded where ranks hold shards of the state: zero, pipelines, tensor).
bool sharded_checkpoints(const Config& cfg, int world);

// Every rank calls it. Consolidated: a sharded strategy gathers its state and rank 0 writes
// checkpoint.pt; sharded: every rank writes its own (train/sharded_checkpoint.h). Either way the
// other format's files go once this one is complete. Returns this rank's time.
CheckpointIo save_checkpoint(const std::string& run_dir, Strategy& strategy,
                             const TrainState& state, const Config& cfg, const DistContext& ctx);
// Restores strategy in place from either format (the newer, if a switch of format left both) and
// returns the trainer's state; UserError if missing or unreadable. Every tensor (parameters,
// buffers, optimizer state) lands on `device`, the rank's own: a checkpoint written from cuda:0,
// or from a GPU on a machine that has none, loads anywhere. `io`: this rank's figures.
TrainState load_checkpoint(const std::string& run_dir, Strategy& strategy,
                           const c10::Device& device, CheckpointIo* io = nullptr);

// The config a run directory was started with (its config.json).
void save_run_config(const std::string& run_dir, const Config& cfg);

// vocabulary.json: what each token of a text run stands for (`parallax sample` decodes with it):
// its characters, or bytes (token = byte value), or synthetic tokens (their numbers).
void save_vocabulary(const std::string& run_dir, const Dataset& data);
Config load_run_config(const std::string& run_dir);
// `train`'s config: as given, or for --resume DIR the saved one with the options given on this
// command line (`train`, parsed) over it.
Config resumed_run_config(const CLI::App& train, const Config& given);

}  // namespace parallax
