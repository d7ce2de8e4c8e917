// TensorParallelLayers: in-place sharding of whole weights, and the split layers' forwards.
#include "parallel/tensor_parallel_layers.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "parallel/sequence_parallel.h"
#include "parallel/vocab_parallel.h"

namespace parallax {

TensorParallelLayers::TensorParallelLayers(compat::Group group, int rank, int world,
                                           bool sequence_parallel)
    : sequence_parallel_(sequence_parallel) {
  tp_.group = std::move(group);
  tp_.rank = rank;
  tp_.world = world;
}

void TensorParallelLayers::shard(torch::Tensor& param, int64_t dim, int64_t groups,
                                 int64_t padding) {
  if (!param.defined()) return;
  Shard s;
  s.dim = dim;
  s.groups = groups;
  s.padding = padding;
  s.whole_sizes = param.sizes().vec();
  // The same parameter (its TensorImpl: the optimizer's key, the tied head's handle) now holds
  // this rank's share only; the whole copy is freed.
  param.set_data(shard_of_whole(param, s, tp_.rank, tp_.world));
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
  const int64_t vocab = weight.size(0), t = tp_.world;
  const int64_t padded = (vocab + t - 1) / t * t, columns = padded / t;
  shard(weight, 0, 1, padded - vocab);
  // Which of this rank's columns stand for no token: the logits there are minus infinity.
  const int64_t valid = std::clamp<int64_t>(vocab - columns * tp_.rank, 0, columns);
  if (valid < columns)
    padded_columns_ =
        torch::arange(columns, torch::TensorOptions().device(weight.device())).ge(valid);
}

torch::Tensor TensorParallelLayers::column(const torch::Tensor& x,
                                           const torch::nn::Linear& layer) {
  const auto whole = sequence_parallel_ ? sp_gather(x, tp_, "sp column-parallel input")
                                        : tp_enter(x, tp_, "tp column-parallel input");
  return at::linear(whole, layer->weight, layer->bias);
}

torch::Tensor TensorParallelLayers::row(const torch::Tensor& x, const torch::nn::Linear& layer) {
  const auto partial = at::linear(x, layer->weight);
  const auto y = sequence_parallel_ ? sp_scatter(partial, tp_, "sp row-parallel output")
                                    : tp_leave(partial, tp_, "tp row-parallel output");
  return layer->bias.defined() ? y + layer->bias : y;
}

torch::Tensor TensorParallelLayers::embed(const torch::Tensor& tokens,
                                          const torch::Tensor& weight) {
  if (!sequence_parallel_) return vocab_parallel_embedding(tokens, weight, tp_);
  return sp_scatter(vocab_parallel_lookup(tokens, weight, tp_), tp_, "sp embedding");
}

torch::Tensor TensorParallelLayers::sequence_part(const torch::Tensor& per_token) {
  return sequence_parallel_ ? sp_part(per_token, tp_, 0) : per_token;
}

torch::Tensor TensorParallelLayers::vocab_logits(const torch::Tensor& x,
                                                 const torch::Tensor& weight) {
  const auto whole = sequence_parallel_ ? sp_gather(x, tp_, "sp lm head input")
                                        : tp_enter(x, tp_, "tp lm head input");
  const auto logits = at::linear(whole, weight);
  if (!padded_columns_.defined()) return logits;
  if (padded_columns_.device() != logits.device()) padded_columns_ = padded_columns_.to(logits.device());
  return logits.masked_fill(padded_columns_, -std::numeric_limits<double>::infinity());
}

torch::Tensor shard_of_whole(const torch::Tensor& whole, const TensorParallelLayers::Shard& s,
                             int rank, int world) {
  const auto padded =
      s.padding == 0
          ? whole
          : torch::cat({whole.detach(),
                        torch::zeros({s.padding, whole.size(1)}, whole.options())});
  return grouped_shard_of(padded, s.dim, s.groups, rank, world);
}

}  // namespace parallax
