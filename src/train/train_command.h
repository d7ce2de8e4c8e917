// `parallax train`: one run from a validated config to a filled run directory.
#pragma once
#include <functional>
#include <string>

#include "config/config.h"

namespace parallax {

struct TrainState;

// Every check `parallax train` makes before it starts a rank (the options, the world, the stage
// cuts), with --nproc filled in for hybrid. Throws UserError. `parallax bench` checks suites so.
Config checked_train_config(const Config& given);

// `parallax train`: spawns --nproc local ranks of argv (this binary) when no launcher has set
// up a world, else trains as one rank of it. Returns the process exit code.
int train_main(const Config& cfg, int argc, char** argv);

// Trains as cfg says, as one rank of the world in the environment (or alone), and returns the
// run directory (written by rank 0). Throws UserError on bad input.
// after_epoch runs once an epoch's checkpoint and files are on disk (tests stop runs there).
std::string run_training(const Config& cfg, bool verbose = true,
                         const std::function<void(const TrainState&)>& after_epoch = nullptr);

}  // namespace parallax
