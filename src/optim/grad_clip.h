// Gradient clipping by the whole model's L2 norm, as torch.nn.utils.clip_grad_norm_: every
// gradient times min(1, max_norm / (norm + 1e-6)). The norm comes from the strategy (summed over
// shards and stages, each parameter counted once) as a device tensor, and the factor stays one:
// clipping costs no host sync.
#pragma once
#include <torch/types.h>

#include <vector>

namespace parallax {

// min(1, max_norm / (sqrt(squared_norm) + 1e-6)), a scalar tensor where squared_norm is.
torch::Tensor clip_coefficient(const torch::Tensor& squared_norm, double max_norm);

// Each defined gradient of `params` times `coefficient`, in place (no autograd).
void scale_gradients(const std::vector<torch::Tensor>& params, const torch::Tensor& coefficient);

}  // namespace parallax
