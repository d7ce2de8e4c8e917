// Batch: what a loader hands a strategy: normalised float images and int64 labels on the device.
#pragma once
#include <torch/types.h>

namespace parallax {

struct Batch {
  torch::Tensor images;  // float [B, C, H, W]; text: int64 tokens [B, context]
  torch::Tensor labels;  // int64 [B]; text: the next tokens, int64 [B, context]
  int64_t size() const { return labels.size(0); }
};

}  // namespace parallax
