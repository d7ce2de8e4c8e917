// The FLOPs one sample costs a model, counted from its own shapes: 2 per multiply-accumulate of
// every convolution and linear layer (and a transformer's attention products, QK^T and its
// product with V, over the whole T x T square as PaLM and nanoGPT count them; a tied LM head's
// product too); training is 3 x forward (backward computes input and weight gradients, each as
// costly as forward). Norms, activations and the loss are left out, as everyone leaves them out.
#pragma once
#include <cstdint>
#include <vector>

#include "models/blocks.h"

namespace parallax {

// sample_shape: one input's (C, H, W), or (T) tokens.
double forward_flops_per_sample(ModelBlocks& model, const std::vector<int64_t>& sample_shape);

inline double training_flops_per_sample(ModelBlocks& model,
                                        const std::vector<int64_t>& sample_shape) {
  return 3 * forward_flops_per_sample(model, sample_shape);
}

}  // namespace parallax
