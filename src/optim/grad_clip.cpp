// clip_grad_norm_'s factor and its application, on the gradients' device.
#include "optim/grad_clip.h"

#include <torch/torch.h>

namespace parallax {

torch::Tensor clip_coefficient(const torch::Tensor& squared_norm, double max_norm) {
  // PyTorch's 1e-6 keeps the division finite for a zero gradient (the factor is then 1). A true
  // division, as Python's max_norm / tensor (ATen's scalar / tensor multiplies by a reciprocal).
  const auto denominator = squared_norm.sqrt() + 1e-6;
  return torch::full({}, max_norm, denominator.options()).div_(denominator).clamp_max_(1.0);
}

void scale_gradients(const std::vector<torch::Tensor>& params, const torch::Tensor& coefficient) {
  torch::NoGradGuard no_grad;
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().mul_(coefficient);
}

}  // namespace parallax
