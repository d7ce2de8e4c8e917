// The activation bytes each block holds for backward at a micro-batch shape: one forward in
// training mode, measured by the allocator (after a warm-up pass, so that one-off kernel caches
// are not counted).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "parallel/mixed_precision.h"

namespace parallax {

class ModelBlocks;

struct ActivationProfile {
  std::vector<int64_t> activations;  // per block: bytes held for backward
  std::vector<int64_t> workspace;    // per block: what its first forward and backward left behind
                                     // for good (kernel caches, scratch pads)
};

// sample_shape: one image (C, H, W). Running statistics are put back afterwards. Forwards run
// under `precision`'s autocast, as training's do: bf16 activations, and the bf16 copies of the
// weights autograd keeps for backward, are counted as they are held.
ActivationProfile profile_activations(ModelBlocks& model, const std::vector<int64_t>& sample_shape,
                                      int64_t rows, const torch::Device& device,
                                      const Precision& precision = {});

}  // namespace parallax
