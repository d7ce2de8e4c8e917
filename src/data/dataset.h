// Dataset: a train and a test split held in memory as uint8 images and int64 labels.
#pragma once
#include <torch/types.h>

#include <string>

namespace parallax {

struct Split {
  torch::Tensor images;  // uint8 [N, C, H, W], on the CPU
  torch::Tensor labels;  // int64 [N], each in [0, classes)
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct Dataset {
  std::string name;    // "synthetic", "cifar10", ...
  std::string source;  // where it came from, for summaries: a folder, or the generator's settings
  int64_t classes = 0;
  Split train, test;
  int64_t channels() const { return train.images.size(1); }
  int64_t height() const { return train.images.size(2); }
  int64_t width() const { return train.images.size(3); }
};

}  // namespace parallax
