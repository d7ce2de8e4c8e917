// The export command: checkpoint -> model (its shape read off the checkpoint) -> state dict file.
#include "train/export_command.h"

#include <torch/torch.h>

#include <CLI/CLI.hpp>

#include <filesystem>

#include "config/user_error.h"
#include "models/resnet.h"
#include "models/torchvision_names.h"
#include "train/checkpoint.h"
#include "train/state_dict_file.h"

namespace parallax {

CLI::App* add_export_command(CLI::App& app, ExportOptions& opts) {
  auto* cmd = app.add_subcommand(
      "export",
      "write a run's weights as a PyTorch state dict with torchvision's names "
      "(torchvision.models.resnet50(num_classes=10).load_state_dict(torch.load(FILE)))");
  cmd->add_option("run_dir", opts.run_dir, "run directory (its checkpoint.pt)")->required();
  cmd->add_option("-o,--out", opts.out, "the state dict file to write")->capture_default_str();
  return cmd;
}

size_t export_main(const ExportOptions& opts) {
  if (!std::filesystem::exists(opts.run_dir + "/config.json"))
    throw UserError(opts.run_dir + ": no config.json there, so not a run folder; give a folder " +
                    "`parallax train` wrote (its --out)");
  const Config cfg = load_run_config(opts.run_dir);
  const std::string path = checkpoint_path(opts.run_dir);
  if (!std::filesystem::exists(path))
    throw UserError(opts.run_dir + ": no checkpoint.pt (the run stopped before its first " +
                    "checkpoint, or ran with --no-checkpoint); nothing to export");
  torch::serialize::InputArchive archive, model_archive;
  auto model = [&] {
    try {
      archive.load_from(path, torch::kCPU);
      archive.read("model", model_archive);
      // The input channels and classes come from the data the run trained on: read them off the
      // stem's first convolution and the head.
      torch::serialize::InputArchive stem, conv1, fc, linear;
      torch::Tensor conv_weight, fc_weight;
      model_archive.read("stem", stem);
      stem.read("conv1", conv1);
      conv1.read("weight", conv_weight);
      model_archive.read("fc", fc);
      fc.read("linear", linear);
      linear.read("weight", fc_weight);
      auto m =
          make_resnet({cfg.model, conv_weight.size(1), fc_weight.size(0), cfg.norm == "batch"});
      if (cfg.dtype == "fp64") m->set_floating_dtype(torch::kDouble);
      m->load(model_archive);
      return m;
    } catch (const c10::Error& e) {
      throw UserError(path + ": unreadable checkpoint (" +
                      std::string(e.what_without_backtrace()).substr(0, 200) + ")");
    }
  }();
  save_state_dict_file(*model, opts.out);
  return torchvision_state(*model).size();
}

}  // namespace parallax
