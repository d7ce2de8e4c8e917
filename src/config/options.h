// The `train` command line: every option of Config, its help text and its default, in one table.
#pragma once
#include "config/config.h"

namespace CLI {
class App;
}

namespace parallax {

// Binds each option to its field of cfg; CLI11 writes only the options the user gives.
void add_train_options(CLI::App& app, Config& cfg);

// On --resume DIR: the run's saved config, with the options given on this command line on top.
Config merge_resumed_config(const CLI::App& app, const Config& given, const Config& saved);

}  // namespace parallax
