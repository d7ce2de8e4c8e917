// TensorParallelLayers: in-place sharding of whole weights, and the split layers' forwards.
#include "parallel/tensor_parallel_layers.h"

#include <torch/torch.h>

#include "parallel/vocab_parallel.h"

namespace parallax {

TensorParallelLayers::TensorParallelLayers(compat::Group group, int rank, int world) {
  tp_.group = std::move(group);
  tp_.rank = rank;
  tp_.world = world;
}

void TensorParallelLayers::shard(torch::Tensor& param, int64_t dim, int64_t groups) {
  if (!param.defined()) return;
  Shard s;
  s.dim = dim;
  s.groups = groups;
  s.whole_sizes = param.sizes().vec();
  // The same parameter (its TensorImpl: the optimizer's key, the tied head's handle) now holds
  // this rank's share only; the whole copy is freed.
  param.set_data(grouped_shard_of(param, dim, groups, tp_.rank, tp_.world));
  s.param = param;
  shards_.push_back(std::move(s));
}

void TensorParallelLayers::shard_output_features(torch::nn::Linear& layer, int64_t groups) {
  shard(layer->weight, 0, groups);
  shard(layer->bias, 0, groups);
}

void TensorParallelLayers::shard_input_features(torch::nn::Linear& layer) {
  shard(layer->weight, 1, 1);
}

void TensorParallelLayers::shard_vocabulary(torch::Tensor& weight) {
  shard(weight, 0, 1);
}

torch::Tensor TensorParallelLayers::column(const torch::Tensor& x,
                                           const torch::nn::Linear& layer) {
  return at::linear(tp_enter(x, tp_, "tp column-parallel input"), layer->weight, layer->bias);
}

torch::Tensor TensorParallelLayers::row(const torch::Tensor& x, const torch::nn::Linear& layer) {
  const auto y = tp_leave(at::linear(x, layer->weight), tp_, "tp row-parallel output");
  return layer->bias.defined() ? y + layer->bias : y;
}

torch::Tensor TensorParallelLayers::embed(const torch::Tensor& tokens,
                                          const torch::Tensor& weight) {
  return vocab_parallel_embedding(tokens, weight, tp_);
}

torch::Tensor TensorParallelLayers::vocab_logits(const torch::Tensor& x,
                                                 const torch::Tensor& weight) {
  return at::linear(tp_enter(x, tp_, "tp lm head input"), weight);
}

}  // namespace parallax
