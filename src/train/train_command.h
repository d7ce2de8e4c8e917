// `parallax train`: one run from a validated config to a filled run directory.
#pragma once
#include <functional>
#include <string>

#include "config/config.h"

namespace parallax {

struct TrainState;

// Trains as cfg says and returns the run directory it wrote. Throws UserError on bad input.
// after_epoch runs once an epoch's checkpoint and files are on disk (tests stop runs there).
std::string run_training(const Config& cfg, bool verbose = true,
                         const std::function<void(const TrainState&)>& after_epoch = nullptr);

}  // namespace parallax
