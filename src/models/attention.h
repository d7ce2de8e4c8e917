// Multi-head scaled dot-product attention for the transformer models (gpt, vit): the heads' core,
// softmax(QK^T / sqrt(d)) V, between a fused QKV projection and the output one.
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace parallax {

struct AttentionOptions {
  int64_t heads = 1;
  bool causal = false;  // a token attends to itself and those before it only
  double dropout = 0;   // on the attention weights (training only)
  bool fused = true;    // LibTorch 2.x's scaled_dot_product_attention where it has one
  // Selective recomputation (--recompute selective): the core, QK^T to the weights times V, runs
  // again in backward (models/recompute.h); only q, k and v are kept, no [tokens x tokens] weights.
  bool recompute = false;
};

// qkv: [batch, tokens, 3 x width], the fused projection's output (q, then k, then v, each split
// into `heads` heads of width / heads). Returns [batch, tokens, width]. The explicit form and the
// fused kernel are tested equal (tests/unit/models/gpt_test.cpp).
torch::Tensor multi_head_attention(const torch::Tensor& qkv, const AttentionOptions& options,
                                   bool training);

}  // namespace parallax
