// The activation bytes each block holds for backward at a micro-batch shape: one forward in
// training mode, measured by the allocator (after a warm-up pass, so that one-off kernel caches
// are not counted).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace parallax {

class ModelBlocks;

struct ActivationProfile {
  std::vector<int64_t> activations;  // per block: bytes held for backward
  std::vector<int64_t> workspace;    // per block: what its first forward and backward left behind
                                     // for good (kernel caches, scratch pads)
};

// sample_shape: one image (C, H, W). Running statistics are put back afterwards.
ActivationProfile profile_activations(ModelBlocks& model, const std::vector<int64_t>& sample_shape,
                                      int64_t rows, const torch::Device& device);

}  // namespace parallax
