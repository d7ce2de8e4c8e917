// Multi-head attention: the heads split from the fused projection, the fused kernel or the
// explicit form, the heads joined again.
#include "models/attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "distributed/torch_compat.h"

namespace parallax {

torch::Tensor multi_head_attention(const torch::Tensor& qkv, const AttentionOptions& o,
                                   bool training) {
  const int64_t b = qkv.size(0), t = qkv.size(1), c = qkv.size(2) / 3, d = c / o.heads;
  // [b, t, 3c] into q, k, v, each [b, heads, t, d].
  const auto split = qkv.view({b, t, 3, o.heads, d}).permute({2, 0, 3, 1, 4});
  const auto q = split[0], k = split[1], v = split[2];
  const double p = training ? o.dropout : 0.0;
  torch::Tensor y;
  if (o.fused && compat::kHasFusedAttention) {
    y = compat::fused_attention(q, k, v, p, o.causal);
  } else {
    auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d)));
    if (o.causal) {
      const auto future = torch::ones({t, t}, qkv.options().dtype(torch::kBool)).triu(1);
      scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
    }
    auto weights = torch::softmax(scores, -1);
    if (p > 0) weights = torch::dropout(weights, p, /*train=*/true);
    y = torch::matmul(weights, v);
  }
  return y.transpose(1, 2).reshape({b, t, c});
}

}  // namespace parallax
