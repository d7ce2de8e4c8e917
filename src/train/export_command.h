// `parallax export RUN_DIR -o model.pt`: a run's weights as a PyTorch state dict.
#pragma once
#include <string>

namespace CLI {
class App;
}

namespace parallax {

struct ExportOptions {
  std::string run_dir;
  std::string out = "model.pt";
};

// Adds the `export` subcommand, bound to opts.
CLI::App* add_export_command(CLI::App& app, ExportOptions& opts);

// Writes the run's latest checkpoint's model (any strategy's: checkpoints are consolidated) as
// a state dict with torchvision's names, or GPT2LMHeadModel's for a gpt; returns the tensors
// written.
size_t export_main(const ExportOptions& opts);

}  // namespace parallax
