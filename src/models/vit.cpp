// ViT blocks: patch embedding with the class token, pre-LayerNorm encoder blocks, the classifier.
#include "models/vit.h"

#include <torch/torch.h>

#include "config/user_error.h"
#include "models/attention.h"
#include "models/linear_layer.h"
#include "models/split_layers.h"

namespace parallax {
namespace {

torch::nn::Linear vit_linear(int64_t in, int64_t out) {
  torch::nn::Linear l(torch::nn::LinearOptions(in, out));
  torch::NoGradGuard no_grad;
  l->weight.normal_(0, 0.02);
  l->bias.zero_();
  return l;
}

torch::nn::LayerNorm vit_norm(int64_t width) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(1e-6));
}

// Images [batch, C, H, W] to tokens [batch, 1 + patches, width]: the class token first.
class PatchEmbedding : public Block {
 public:
  explicit PatchEmbedding(const VitSpec& s) : dropout_(s.dropout) {
    const int64_t patches = (s.image_size / s.patch) * (s.image_size / s.patch);
    proj = register_module(
        "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(s.channels, s.width, s.patch)
                                      .stride(s.patch)));
    cls_token = register_parameter("cls_token", torch::zeros({1, 1, s.width}));
    pos_embed = register_parameter("pos_embed", torch::zeros({1, 1 + patches, s.width}));
    torch::NoGradGuard no_grad;
    proj->weight.normal_(0, 0.02);
    proj->bias.zero_();
    cls_token.normal_(0, 1e-6);
    pos_embed.normal_(0, 0.02);
  }
  torch::Tensor forward(const torch::Tensor& images) override {
    const auto patches = proj->forward(images).flatten(2).transpose(1, 2);  // [b, n, width]
    const auto cls = cls_token.expand({images.size(0), 1, cls_token.size(2)});
    return torch::dropout(torch::cat({cls, patches}, 1) + pos_embed, dropout_, is_training());
  }
  // Tensor parallelism keeps the patch embedding whole on every rank.
  bool split_layers(const std::shared_ptr<SplitLayers>&) override { return true; }
  torch::nn::Conv2d proj{nullptr};
  torch::Tensor cls_token, pos_embed;

 private:
  double dropout_;
};

class VitAttention : public torch::nn::Module {
 public:
  explicit VitAttention(const VitSpec& s)
      : options_{s.heads, /*causal=*/false, s.dropout, s.fused_attention} {
    qkv = register_module("qkv", vit_linear(s.width, 3 * s.width));
    proj = register_module("proj", vit_linear(s.width, s.width));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto y = multi_head_attention(split_->column(x, qkv), options_, is_training());
    return torch::dropout(split_->row(y, proj), options_.dropout, is_training());
  }
  void set_recompute(bool on) { options_.recompute = on; }
  // Heads split over the group (models/split_layers.h), as gpt's.
  void split_layers(const std::shared_ptr<SplitLayers>& split) {
    options_.heads = split->split_attention(qkv, proj, options_.heads);
    split_ = split;
  }
  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  AttentionOptions options_;
  std::shared_ptr<SplitLayers> split_ = whole_layers();
};

// x + attn(norm1(x)), then + mlp(norm2(x)); the MLP is fc1, GELU, fc2.
class VitBlock : public Block {
 public:
  explicit VitBlock(const VitSpec& s) : dropout_(s.dropout) {
    norm1 = register_module("norm1", vit_norm(s.width));
    attn = register_module("attn", std::make_shared<VitAttention>(s));
    norm2 = register_module("norm2", vit_norm(s.width));
    auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    fc1 = mlp->register_module("fc1", vit_linear(s.width, 4 * s.width));
    fc2 = mlp->register_module("fc2", vit_linear(4 * s.width, s.width));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    const auto h = x + attn->forward(norm1->forward(x));
    const auto m = split_->row(torch::gelu(split_->column(norm2->forward(h), fc1)), fc2);
    return h + torch::dropout(m, dropout_, is_training());
  }
  bool set_selective_recompute(bool on) override {
    attn->set_recompute(on);
    return true;
  }
  bool split_layers(const std::shared_ptr<SplitLayers>& split) override {
    attn->split_layers(split);
    split->shard_output_features(fc1, 1);
    split->shard_input_features(fc2);
    split_ = split;
    return true;
  }
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  std::shared_ptr<VitAttention> attn;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  double dropout_;
  std::shared_ptr<SplitLayers> split_ = whole_layers();
};

// LayerNorm, then the class token's features to the classes' logits.
class VitHead : public Block {
 public:
  explicit VitHead(const VitSpec& s) {
    norm = register_module("norm", vit_norm(s.width));
    head = register_module("head", vit_linear(s.width, s.classes));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return linear_forward(head, norm->forward(x).select(1, 0));
  }
  // Tensor parallelism keeps the classifier whole on every rank (its logits are few).
  bool split_layers(const std::shared_ptr<SplitLayers>&) override { return true; }
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};
};

}  // namespace

VitSpec vit_spec(const std::string& name, int64_t image_size, int64_t channels, int64_t classes) {
  if (name != "vit-tiny")
    throw UserError("--model " + name + ": not a ViT size; give vit-tiny");
  VitSpec s;
  s.name = name;
  s.image_size = image_size;
  s.channels = channels;
  s.classes = classes;
  return s;
}

std::shared_ptr<ModelBlocks> make_vit(const VitSpec& s) {
  if (s.patch < 1 || s.image_size % s.patch != 0)
    throw UserError("--model " + s.name + ": its " + std::to_string(s.patch) + "x" +
                    std::to_string(s.patch) + " patches do not tile " +
                    std::to_string(s.image_size) + "x" + std::to_string(s.image_size) +
                    " images; give an --image-size that is a multiple of " +
                    std::to_string(s.patch));
  if (s.heads < 1 || s.width % s.heads != 0)
    throw UserError("--model " + s.name + ": width " + std::to_string(s.width) +
                    " does not split into " + std::to_string(s.heads) + " heads");
  auto model = std::make_shared<ModelBlocks>();
  model->add("embed", std::make_shared<PatchEmbedding>(s));
  for (int64_t i = 0; i < s.layers; ++i)
    model->add("blocks." + std::to_string(i), std::make_shared<VitBlock>(s));
  model->add("head", std::make_shared<VitHead>(s));
  return model;
}

}  // namespace parallax
