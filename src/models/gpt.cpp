// GPT blocks: embeddings, pre-LayerNorm transformer blocks, and the tied LM head.
#include "models/gpt.h"

#include <torch/torch.h>

#include <cmath>
#include <utility>

#include "config/user_error.h"
#include "models/attention.h"
#include "models/linear_layer.h"
#include "models/split_layers.h"

namespace parallax {
namespace {

namespace F = torch::nn::functional;

torch::nn::Linear linear(int64_t in, int64_t out, double std) {
  torch::nn::Linear l(torch::nn::LinearOptions(in, out));
  torch::NoGradGuard no_grad;
  l->weight.normal_(0, std);
  l->bias.zero_();
  return l;
}

torch::nn::LayerNorm layer_norm(int64_t width) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}));  // eps 1e-5, as GPT-2's
}

// Token and learned position embeddings, then dropout: tokens [batch, T] to [batch, T, width].
class GptEmbedding : public Block {
 public:
  explicit GptEmbedding(const GptSpec& s) : context_(s.context), dropout_(s.dropout) {
    wte = register_module("wte", torch::nn::Embedding(s.vocab, s.width));
    wpe = register_module("wpe", torch::nn::Embedding(s.context, s.width));
    torch::NoGradGuard no_grad;
    wte->weight.normal_(0, 0.02);
    wpe->weight.normal_(0, 0.02);
  }
  torch::Tensor forward(const torch::Tensor& tokens) override {
    const int64_t t = tokens.size(1);
    TORCH_CHECK(t <= context_, "a sequence of ", t, " tokens is longer than the context, ",
                context_);
    const auto positions = torch::arange(t, tokens.options().dtype(torch::kLong));
    return F::dropout(split_->embed(tokens, wte->weight) +
                          split_->sequence_part(wpe->forward(positions)),
                      F::DropoutFuncOptions().p(dropout_).training(is_training()));
  }
  bool split_layers(const std::shared_ptr<SplitLayers>& split) override {
    split->shard_vocabulary(wte->weight);
    split_ = split;
    return true;
  }
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};

 private:
  int64_t context_;
  double dropout_;
  std::shared_ptr<SplitLayers> split_ = whole_layers();
};

// Causal self-attention with the fused QKV projection ("c_attn") and the output one ("c_proj").
class CausalSelfAttention : public torch::nn::Module {
 public:
  explicit CausalSelfAttention(const GptSpec& s)
      : options_{s.heads, /*causal=*/true, s.dropout, s.fused_attention} {
    c_attn = register_module("c_attn", linear(s.width, 3 * s.width, 0.02));
    c_proj = register_module("c_proj", linear(s.width, s.width, 0.02 / std::sqrt(2.0 * s.layers)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto y = multi_head_attention(split_->column(x, c_attn), options_, is_training());
    return F::dropout(split_->row(y, c_proj),
                      F::DropoutFuncOptions().p(options_.dropout).training(is_training()));
  }
  void set_recompute(bool on) { options_.recompute = on; }
  // Heads split over the group (each rank its heads' q, k and v), the output projection by its
  // input features.
  void split_layers(const std::shared_ptr<SplitLayers>& split) {
    options_.heads = split->split_attention(c_attn, c_proj, options_.heads);
    split_ = split;
  }
  torch::nn::Linear c_attn{nullptr}, c_proj{nullptr};

 private:
  AttentionOptions options_;
  std::shared_ptr<SplitLayers> split_ = whole_layers();
};

// The MLP: width to 4 x width, GPT-2's tanh GELU, back to width.
class Mlp : public torch::nn::Module {
 public:
  explicit Mlp(const GptSpec& s) : dropout_(s.dropout) {
    c_fc = register_module("c_fc", linear(s.width, 4 * s.width, 0.02));
    c_proj =
        register_module("c_proj", linear(4 * s.width, s.width, 0.02 / std::sqrt(2.0 * s.layers)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const auto h = torch::gelu(split_->column(x, c_fc), "tanh");
    return F::dropout(split_->row(h, c_proj),
                      F::DropoutFuncOptions().p(dropout_).training(is_training()));
  }
  void split_layers(const std::shared_ptr<SplitLayers>& split) {
    split->shard_output_features(c_fc, 1);
    split->shard_input_features(c_proj);
    split_ = split;
  }
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};

 private:
  double dropout_;
  std::shared_ptr<SplitLayers> split_ = whole_layers();
};

// x + attn(ln_1(x)), then + mlp(ln_2(x)).
class GptBlock : public Block {
 public:
  explicit GptBlock(const GptSpec& s) {
    ln_1 = register_module("ln_1", layer_norm(s.width));
    attn = register_module("attn", std::make_shared<CausalSelfAttention>(s));
    ln_2 = register_module("ln_2", layer_norm(s.width));
    mlp = register_module("mlp", std::make_shared<Mlp>(s));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    const auto h = x + attn->forward(ln_1->forward(x));
    return h + mlp->forward(ln_2->forward(h));
  }
  bool set_selective_recompute(bool on) override {
    attn->set_recompute(on);
    return true;
  }
  bool split_layers(const std::shared_ptr<SplitLayers>& split) override {
    attn->split_layers(split);
    mlp->split_layers(split);
    return true;
  }
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<Mlp> mlp;
};

// ln_f, then logits against the token embedding's weight (not registered here: one parameter),
// or a copy of it that a pipeline stage apart from the embedding holds (TiedWeight).
class GptHead : public Block {
 public:
  GptHead(const GptSpec& s, const std::shared_ptr<GptEmbedding>& embedding)
      : weight_(embedding->wte->weight) {
    ln_f = register_module("ln_f", layer_norm(s.width));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return split_->vocab_logits(ln_f->forward(x), weight_);
  }
  bool split_layers(const std::shared_ptr<SplitLayers>& split) override {
    split_ = split;  // the embedding shards the weight both hold
    return true;
  }
  void use_weight(const torch::Tensor& w) { weight_ = w; }
  // The tied weight it computes with (the embedding's, or its own copy): recomputation takes it
  // as an input so that its gradient leaves through the recomputed block.
  std::vector<torch::Tensor> shared_parameters() const override { return {weight_}; }
  torch::nn::LayerNorm ln_f{nullptr};

 private:
  torch::Tensor weight_;  // the same tensor as the embedding's (one TensorImpl) unless rebound
  std::shared_ptr<SplitLayers> split_ = whole_layers();
};

}  // namespace

const std::vector<std::string>& gpt_names() {
  static const std::vector<std::string> names = {"gpt-mini", "gpt-char", "gpt2"};
  return names;
}

GptSpec gpt_spec(const std::string& name) {
  GptSpec s;
  s.name = name;
  if (name == "gpt-mini") {
    s.layers = 4, s.heads = 4, s.width = 128, s.context = 64, s.vocab = 65;
  } else if (name == "gpt-char") {
    s.layers = 6, s.heads = 6, s.width = 384, s.context = 256, s.vocab = 65;
  } else if (name == "gpt2") {
    s.layers = 12, s.heads = 12, s.width = 768, s.context = 1024, s.vocab = 50257;
  } else {
    throw UserError("--model " + name + ": not a GPT size; give gpt-mini, gpt-char or gpt2");
  }
  return s;
}

std::shared_ptr<ModelBlocks> make_gpt(const GptSpec& s) {
  for (const auto& [what, v] : {std::pair<const char*, int64_t>{"layers", s.layers},
                                {"heads", s.heads},
                                {"width", s.width},
                                {"context", s.context},
                                {"vocabulary", s.vocab}})
    if (v < 1)
      throw UserError(s.name + ": " + what + " " + std::to_string(v) + " must be 1 or more");
  if (s.width % s.heads != 0)
    throw UserError(s.name + ": width " + std::to_string(s.width) + " does not split into " +
                    std::to_string(s.heads) + " heads; give a width that is a multiple of them");
  auto model = std::make_shared<ModelBlocks>();
  auto embedding = std::make_shared<GptEmbedding>(s);
  model->add("embed", embedding);
  for (int64_t i = 0; i < s.layers; ++i)
    model->add("h." + std::to_string(i), std::make_shared<GptBlock>(s));
  auto head = std::make_shared<GptHead>(s, embedding);
  model->add("head", head);
  TiedWeight tie;
  tie.owner = 0;
  tie.user = static_cast<size_t>(s.layers) + 1;
  tie.name = "wte.weight";
  tie.weight = [embedding] { return embedding->wte->weight; };
  tie.rebind = [head](const torch::Tensor& w) { head->use_weight(w); };
  model->add_tie(std::move(tie));
  model->set_token_input(true);
  return model;
}

}  // namespace parallax
