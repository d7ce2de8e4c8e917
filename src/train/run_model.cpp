// A run's model from its folder: config -> model of that shape -> the checkpoint's weights.
#include "train/run_model.h"

#include <torch/torch.h>

#include <filesystem>

#include "config/user_error.h"
#include "data/vocabulary.h"
#include "models/make_model.h"
#include "models/resnet.h"
#include "train/checkpoint.h"

namespace parallax {
namespace {

// A ResNet's input channels and classes come from the data the run trained on: read them off the
// stem's first convolution and the head.
std::shared_ptr<ModelBlocks> resnet_of(const Config& cfg,
                                       torch::serialize::InputArchive& model_archive) {
  torch::serialize::InputArchive stem, conv1, fc, linear;
  torch::Tensor conv_weight, fc_weight;
  model_archive.read("stem", stem);
  stem.read("conv1", conv1);
  conv1.read("weight", conv_weight);
  model_archive.read("fc", fc);
  fc.read("linear", linear);
  linear.read("weight", fc_weight);
  return make_resnet({cfg.model, conv_weight.size(1), fc_weight.size(0), cfg.norm == "batch"});
}

}  // namespace

RunModel load_run_model(const std::string& run_dir) {
  if (!std::filesystem::exists(run_dir + "/config.json"))
    throw UserError(run_dir + ": no config.json there, so not a run folder; give a folder " +
                    "`parallax train` wrote (its --out)");
  RunModel run;
  run.config = load_run_config(run_dir);
  const Config& cfg = run.config;
  const std::string path = checkpoint_path(run_dir);
  if (!has_checkpoint(run_dir))
    throw UserError(run_dir + ": no checkpoint (the run stopped before its first " +
                    "checkpoint, or ran with --no-checkpoint); it has no weights to read");
  // Before the checkpoint: a missing vocabulary is the user's error, not an unreadable archive.
  const bool language_model = is_language_model(cfg.model);
  const int64_t vocabulary = language_model ? load_vocabulary(run_dir).size : 0;
  if (latest_checkpoint_is_sharded(run_dir)) {
    if (language_model) {
      run.model = make_model(model_spec(cfg, /*channels=*/1, vocabulary, /*image_size=*/0));
    } else {
      const auto conv = sharded_whole_sizes(run_dir, "model.stem.conv1.weight");
      const auto fc = sharded_whole_sizes(run_dir, "model.fc.linear.weight");
      if (conv.size() != 4 || fc.size() != 2)
        throw UserError(sharded_checkpoint_path(run_dir) + ": not its config's model (no ResNet stem or head in it)");
      run.model = make_resnet({cfg.model, conv[1], fc[0], cfg.norm == "batch"});
    }
    if (cfg.dtype == "fp64") run.model->set_floating_dtype(torch::kDouble);
    load_sharded_model(run_dir, *run.model);
    return run;
  }
  torch::serialize::InputArchive archive, model_archive;
  try {
    archive.load_from(path, torch::kCPU);
    archive.read("model", model_archive);
    run.model = language_model
                    ? make_model(model_spec(cfg, /*channels=*/1, vocabulary, /*image_size=*/0))
                    : resnet_of(cfg, model_archive);
    if (cfg.dtype == "fp64") run.model->set_floating_dtype(torch::kDouble);
    run.model->load(model_archive);
  } catch (const c10::Error& e) {
    throw UserError(path + ": unreadable checkpoint, or not its config's model (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  return run;
}

}  // namespace parallax
