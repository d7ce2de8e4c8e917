// The export command: the run's model (train/run_model.h) -> a state dict file.
#include "train/export_command.h"

#include <CLI/CLI.hpp>

#include "models/blocks.h"
#include "train/run_model.h"
#include "train/state_dict_file.h"

namespace parallax {

CLI::App* add_export_command(CLI::App& app, ExportOptions& opts) {
  auto* cmd = app.add_subcommand(
      "export",
      "write a run's weights as a PyTorch state dict: torchvision's names for a ResNet "
      "(torchvision.models.resnet50(num_classes=10).load_state_dict(torch.load(FILE))), Hugging "
      "Face's for a gpt (transformers.GPT2LMHeadModel(config).load_state_dict(torch.load(FILE)))");
  cmd->add_option("run_dir", opts.run_dir, "run directory (its checkpoint)")->required();
  cmd->add_option("-o,--out", opts.out, "the state dict file to write")->capture_default_str();
  return cmd;
}

size_t export_main(const ExportOptions& opts) {
  const RunModel run = load_run_model(opts.run_dir);
  return save_state_dict_file(*run.model, opts.out);
}

}  // namespace parallax
