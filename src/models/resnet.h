// ResNet factory: resnet18/34/50/101 (torchvision layout) and resnet20/56 (CIFAR layout).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "models/blocks.h"

namespace parallax {

struct ModelSpec {
  std::string name = "resnet50";
  int64_t in_channels = 3;
  int64_t classes = 10;
  bool batch_norm = true;
  int64_t image_size = 32;  // height = width; ViTs need it (models/make_model.h)
  // Transformers (vit, gpt): sizes over the named model's, 0 keeps its own; gpt's vocabulary is
  // `classes` and its context `context`.
  int64_t layers = 0, heads = 0, width = 0, context = 0;
  double dropout = 0;
};

const std::vector<std::string>& model_names();

// Blocks: "stem", "layer1.0", ..., "fc". Throws UserError for an unknown name.
std::shared_ptr<ModelBlocks> make_resnet(const ModelSpec& spec);

}  // namespace parallax
