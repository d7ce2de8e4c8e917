// Shared by the transformer models' tests: a model built through LibTorch's fused attention kernel
// and the same model (same seed) through the explicit form agree in float64.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <memory>

#include "models/blocks.h"

namespace parallax::testing {

// make(fused) builds the model; both copies come from seed 3. Outputs within 1e-12, every
// parameter's gradient of sum(output^2) within 1e-10.
inline void expect_fused_attention_equals_explicit(
    const std::function<std::shared_ptr<ModelBlocks>(bool fused)>& make, const torch::Tensor& x) {
  torch::manual_seed(3);
  auto fused = make(true);
  torch::manual_seed(3);
  auto plain = make(false);
  for (auto* m : {fused.get(), plain.get()}) m->set_floating_dtype(torch::kDouble);
  const auto a = fused->forward(x), b = plain->forward(x);
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-12);
  a.pow(2).sum().backward();
  b.pow(2).sum().backward();
  const auto pa = fused->parameters(), pb = plain->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_LT((pa[i].grad() - pb[i].grad()).abs().max().item<double>(), 1e-10) << i;
}

}  // namespace parallax::testing
