// The layers tensor parallelism splits, as a model's code calls them. A transformer's blocks run
// their linear layers, token embedding and LM head through this interface, so the same model
// code runs whole on one device and split over a tensor-parallel group: this class is one
// device's (each call is the plain op); parallel/tensor_parallel_layers.h supplies Megatron's
// column-, row- and vocabulary-parallel versions, which talk through the collectives layer.
// Models know no process group: a strategy installs the split version on a built model
// (ModelBlocks::split_layers), which then shards its whole weights in place.
#pragma once
#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <memory>

#include "models/linear_layer.h"

namespace parallax {

class SplitLayers;
// One device's layers (the plain ops), shared by every block until a strategy installs split ones.
std::shared_ptr<SplitLayers> whole_layers();

class SplitLayers {
 public:
  virtual ~SplitLayers() = default;
  // The ranks a split layer is spread over (1: whole). Attention keeps heads / degree() heads.
  virtual int degree() const { return 1; }

  // ---- Sharding a built model's whole weights, in place (the parameter stays the same tensor,
  // its data becomes this rank's share; one device keeps them whole) ----
  // Output features: rank r's 1/T of each of `groups` equal parts (a fused QKV projection: its
  // heads' q, k and v), of the weight's rows and the bias.
  virtual void shard_output_features(torch::nn::Linear& layer, int64_t groups) {}
  // Input features: rank r's 1/T of the weight's columns; the bias stays whole.
  virtual void shard_input_features(torch::nn::Linear& layer) {}
  // A vocabulary's rows (the token embedding, which the LM head shares).
  virtual void shard_vocabulary(torch::Tensor& weight) {}
  // An attention layer's split: the fused QKV projection by heads (each rank its heads' q, k and
  // v), the output projection by its input features. Returns the heads this rank keeps; a
  // UserError line where they do not divide by degree().
  int64_t split_attention(torch::nn::Linear& qkv, torch::nn::Linear& proj, int64_t heads);

  // ---- Forward ----
  // A layer whose output features are split (column-parallel): x whole in, this rank's outputs.
  virtual torch::Tensor column(const torch::Tensor& x, const torch::nn::Linear& layer) {
    return linear_forward(layer, x);
  }
  // A layer whose input features are split (row-parallel): this rank's inputs in, the whole
  // output (summed over the group), the bias added once.
  virtual torch::Tensor row(const torch::Tensor& x, const torch::nn::Linear& layer) {
    return linear_forward(layer, x);
  }
  // Token ids (whole-vocabulary) to their embedding rows.
  virtual torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& weight) {
    return at::embedding(weight, tokens);
  }
  // This rank's rows of a replicated per-token tensor ([tokens, width]: the position embedding),
  // where sequence parallelism holds 1/T of the tokens between the split layers; all of them
  // otherwise.
  virtual torch::Tensor sequence_part(const torch::Tensor& per_token) { return per_token; }
  // The LM head's logits against the (tied) vocabulary weight: this rank's vocabulary columns.
  virtual torch::Tensor vocab_logits(const torch::Tensor& x, const torch::Tensor& weight) {
    return at::linear(x, weight);
  }
};

}  // namespace parallax
