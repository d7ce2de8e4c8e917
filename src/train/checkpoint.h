// Checkpoints: model, optimizer and trainer state in one archive, replaced atomically each epoch.
#pragma once
#include <string>

#include "config/config.h"
#include "data/dataset.h"
#include "parallel/strategy.h"
#include "metrics/train_records.h"

namespace CLI {
class App;
}

namespace parallax {

std::string checkpoint_path(const std::string& run_dir);
// Every rank calls it (a sharded strategy gathers its state); only the one with write_file set
// (rank 0) writes the file.
void save_checkpoint(const std::string& run_dir, Strategy& strategy, const TrainState& state,
                     bool write_file = true);
// Restores strategy in place and returns the trainer's state; UserError if missing or unreadable.
// Every tensor (parameters, buffers, optimizer state) lands on `device`, the rank's own: a
// checkpoint written from cuda:0, or from a GPU on a machine that has none, loads anywhere.
TrainState load_checkpoint(const std::string& run_dir, Strategy& strategy,
                           const c10::Device& device);

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
