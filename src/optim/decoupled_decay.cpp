// Decoupled weight decay over ranges of flat tensors (ZeRO's shards).
#include "optim/decoupled_decay.h"

#include <torch/torch.h>

namespace parallax {

double decoupled_weight_decay(const Config& cfg) {
  return cfg.optimizer == "adamw" ? cfg.weight_decay : 0.0;
}

void apply_decoupled_decay(const torch::Tensor& flat,
                           const std::vector<std::pair<int64_t, int64_t>>& ranges, double lr,
                           double weight_decay) {
  if (weight_decay == 0) return;  // as AdamW skips its decay
  torch::NoGradGuard no_grad;
  // LibTorch's AdamW::step computes its factor as this very expression.
  const double factor = 1 - lr * weight_decay;
  for (const auto& [begin, end] : ranges)
    if (end > begin) flat.narrow(0, begin, end - begin).mul_(factor);
}

}  // namespace parallax
