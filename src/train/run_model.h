// A finished (or checkpointed) run's model, rebuilt from its folder: config.json says which model,
// vocabulary.json a language model's vocabulary, checkpoint.pt its weights (`export`, `sample`).
#pragma once
#include <memory>
#include <string>

#include "config/config.h"

namespace parallax {

class ModelBlocks;

struct RunModel {
  Config config;
  std::shared_ptr<ModelBlocks> model;  // on the CPU, in the run's dtype, in training mode
};

// The run's latest checkpoint's model (any strategy's: checkpoints are consolidated). A ResNet's
// input channels and classes are read off its checkpoint; a gpt's vocabulary from vocabulary.json.
// UserError, in one line, for a folder that is not a run, has no checkpoint, or whose checkpoint
// is not its model's.
RunModel load_run_model(const std::string& run_dir);

}  // namespace parallax
