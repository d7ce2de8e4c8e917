// Multi-head attention: the heads split from the fused projection, the fused kernel or the
// explicit form, the heads joined again.
#include "models/attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "distributed/torch_compat.h"
#include "models/recompute.h"

namespace parallax {
namespace {

// softmax(QK^T / sqrt(d)) V on [batch, heads, tokens, d], with dropout `p` on the weights.
torch::Tensor attention_core(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             bool fused, bool causal, double p) {
  if (fused && compat::kHasFusedAttention) return compat::fused_attention(q, k, v, p, causal);
  const int64_t t = q.size(2), d = q.size(3);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(d)));
  if (causal) {
    const auto future = torch::ones({t, t}, q.options().dtype(torch::kBool)).triu(1);
    scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
  }
  auto weights = torch::softmax(scores, -1);
  if (p > 0) weights = torch::dropout(weights, p, /*train=*/true);
  return torch::matmul(weights, v);
}

}  // namespace

torch::Tensor multi_head_attention(const torch::Tensor& qkv, const AttentionOptions& o,
                                   bool training) {
  const int64_t b = qkv.size(0), t = qkv.size(1), c = qkv.size(2) / 3, d = c / o.heads;
  // [b, t, 3c] into q, k, v, each [b, heads, t, d].
  const auto split = qkv.view({b, t, 3, o.heads, d}).permute({2, 0, 3, 1, 4});
  const auto q = split[0], k = split[1], v = split[2];
  const double p = training ? o.dropout : 0.0;
  const bool fused = o.fused, causal = o.causal;
  const auto y = o.recompute ? recompute(
                                   [=](const std::vector<torch::Tensor>& in) {
                                     return attention_core(in[0], in[1], in[2], fused, causal, p);
                                   },
                                   {q, k, v}, {})
                             : attention_core(q, k, v, fused, causal, p);
  return y.transpose(1, 2).reshape({b, t, c});
}

}  // namespace parallax
