// ViT: a Vision Transformer for the image datasets, as a block list every strategy cuts: "embed"
// (patch embedding by a strided convolution, a class token, learned positions), "blocks.0" ...
// "blocks.N-1" (pre-LayerNorm blocks: self-attention over every token, then a 4x-wide MLP with
// GELU), "head" (LayerNorm, the class token's features, a linear classifier). Parameter names
// follow timm's VisionTransformer ("blocks.0.attn.qkv.weight").
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "models/blocks.h"

namespace parallax {

struct VitSpec {
  std::string name = "vit-tiny";
  int64_t layers = 12, heads = 3, width = 192, patch = 4;
  int64_t image_size = 32, channels = 3, classes = 10;
  double dropout = 0;
  bool fused_attention = true;  // as GptSpec's
};

// vit-tiny: patch 4, 192 wide, 12 layers, 3 heads (DeiT-Tiny's width and depth at CIFAR's size).
// Throws UserError for another name.
VitSpec vit_spec(const std::string& name, int64_t image_size, int64_t channels, int64_t classes);

// Weights N(0, 0.02), biases zero, the class token N(0, 1e-6), LayerNorms one and zero (eps 1e-6,
// timm's). Throws UserError where the patch does not tile the image or the heads the width.
std::shared_ptr<ModelBlocks> make_vit(const VitSpec& spec);

}  // namespace parallax
