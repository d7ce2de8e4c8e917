// `parallax data download cifar10 [--dir D] | info PATH`: fetch or describe a dataset.
#pragma once
#include <string>

namespace CLI {
class App;
}

namespace parallax {

struct DataOptions {
  std::string dataset, dir = "data/cifar10", path;
  CLI::App *download = nullptr, *info = nullptr;
};

// Adds the `data` subcommand and its two, bound to opts.
CLI::App* add_data_command(CLI::App& app, DataOptions& opts);
// Runs whichever of the two was given.
void data_main(const DataOptions& opts);

}  // namespace parallax
