// A run's model from its folder: config -> model of that shape -> the checkpoint's weights.
#include "train/run_model.h"

#include <torch/torch.h>

#include <filesystem>
#include <utility>
#include <vector>

#include "config/user_error.h"
#include "data/vocabulary.h"
#include "models/make_model.h"
#include "models/resnet.h"
#include "train/checkpoint.h"
#include "train/sharded_checkpoint_reader.h"

namespace parallax {
namespace {

// The run's model as its config says, in its dtype. A ResNet's input channels and classes come
// from the data the run trained on: read off the sizes of the stem's first convolution's weight
// (`conv`) and the head's (`fc`), as its checkpoint holds them.
std::shared_ptr<ModelBlocks> model_of(const Config& cfg, int64_t vocabulary,
                                      const std::vector<int64_t>& conv,
                                      const std::vector<int64_t>& fc, const std::string& shown) {
  std::shared_ptr<ModelBlocks> model;
  if (is_language_model(cfg.model)) {
    model = make_model(model_spec(cfg, /*channels=*/1, vocabulary, /*image_size=*/0));
  } else {
    if (conv.size() != 4 || fc.size() != 2)
      throw UserError(shown + ": not its config's model (no ResNet stem or head in it)");
    model = make_resnet({cfg.model, conv[1], fc[0], cfg.norm == "batch"});
  }
  if (cfg.dtype == "fp64") model->set_floating_dtype(torch::kDouble);
  return model;
}

// The sizes of a consolidated archive's stem convolution and head weights.
std::pair<std::vector<int64_t>, std::vector<int64_t>> resnet_sizes(
    torch::serialize::InputArchive& model_archive) {
  torch::serialize::InputArchive stem, conv1, fc, linear;
  torch::Tensor conv_weight, fc_weight;
  model_archive.read("stem", stem);
  stem.read("conv1", conv1);
  conv1.read("weight", conv_weight);
  model_archive.read("fc", fc);
  fc.read("linear", linear);
  linear.read("weight", fc_weight);
  return {conv_weight.sizes().vec(), fc_weight.sizes().vec()};
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
    ShardedCheckpointReader ck(run_dir);  // its index read once
    run.model = model_of(cfg, vocabulary, ck.whole_sizes("model.stem.conv1.weight"),
                         ck.whole_sizes("model.fc.linear.weight"), sharded_checkpoint_path(run_dir));
    load_sharded_model(ck, *run.model);
    return run;
  }
  torch::serialize::InputArchive archive, model_archive;
  try {
    archive.load_from(path, torch::kCPU);
    archive.read("model", model_archive);
    const auto [conv, fc] = language_model
                                ? std::pair<std::vector<int64_t>, std::vector<int64_t>>{}
                                : resnet_sizes(model_archive);
    run.model = model_of(cfg, vocabulary, conv, fc, path);
    run.model->load(model_archive);
  } catch (const c10::Error& e) {
    throw UserError(path + ": unreadable checkpoint, or not its config's model (" +
                    std::string(e.what_without_backtrace()).substr(0, 200) + ")");
  }
  return run;
}

}  // namespace parallax
