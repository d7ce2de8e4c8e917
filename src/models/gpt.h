// GPT: a decoder-only transformer in GPT-2's layout (nanoGPT's), as a block list every strategy
// cuts: "embed" (token and learned position embeddings), "h.0" ... "h.N-1" (pre-LayerNorm blocks:
// causal self-attention with a fused QKV projection, then a 4x-wide MLP with GPT-2's tanh GELU),
// "head" (the final LayerNorm and the LM head, tied to the token embedding). Parameter names
// follow Hugging Face's GPT2LMHeadModel below its "transformer." prefix ("h.0.attn.c_attn.weight";
// its Conv1D weights are these Linear ones transposed).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/blocks.h"

namespace parallax {

struct GptSpec {
  std::string name = "gpt-mini";
  int64_t layers = 4, heads = 4, width = 128, context = 64, vocab = 65;
  double dropout = 0;  // after the embeddings, the attention weights and each residual branch
  // LibTorch's fused scaled_dot_product_attention (2.x) rather than the explicit
  // softmax(QK^T / sqrt(d)) V; tested equal. Off where the LibTorch has none (1.13).
  bool fused_attention = true;
};

// The named sizes: gpt-mini (4 layers x 4 heads x 128 wide, context 64: nanoGPT's CPU
// configuration), gpt-char (6 x 6 x 384, context 256: nanoGPT's shakespeare_char), both with
// Shakespeare's 65 characters; gpt2 (12 x 12 x 768, context 1024, vocabulary 50257).
const std::vector<std::string>& gpt_names();
// Throws UserError naming the choices for an unknown name.
GptSpec gpt_spec(const std::string& name);

// GPT-2's initialisation: weights N(0, 0.02), the residual projections' N(0, 0.02 / sqrt(2 x
// layers)), biases zero, LayerNorms one and zero. The head holds the token embedding's weight
// without registering it, so parameters() lists it once. Throws UserError for sizes that do not fit
// (heads not dividing the width, a size below 1).
std::shared_ptr<ModelBlocks> make_gpt(const GptSpec& spec);

}  // namespace parallax
