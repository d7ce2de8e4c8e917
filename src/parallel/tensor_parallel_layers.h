// Megatron-LM's split layers behind the models' SplitLayers interface (models/split_layers.h):
// column-parallel (f, then this rank's output features), row-parallel (this rank's input
// features, then g, then the bias), the vocabulary-parallel embedding, and the LM head's logits
// by this rank's vocabulary columns. It shards a built model's whole weights in place and keeps
// where each shard came from, so a strategy can rebuild the whole (checkpoints) and tell split
// parameters from replicated ones (the gradient norm).
#pragma once
#include <vector>

#include "models/split_layers.h"
#include "parallel/tensor_parallel.h"

namespace parallax {

class TensorParallelLayers : public SplitLayers {
 public:
  // sequence_parallel: the tokens between the split layers are split too (sequence_parallel.h).
  TensorParallelLayers(compat::Group group, int rank, int world, bool sequence_parallel = false);

  int degree() const override { return tp_.world; }
  void shard_output_features(torch::nn::Linear& layer, int64_t groups) override;
  void shard_input_features(torch::nn::Linear& layer) override;
  void shard_vocabulary(torch::Tensor& weight) override;

  torch::Tensor column(const torch::Tensor& x, const torch::nn::Linear& layer) override;
  torch::Tensor row(const torch::Tensor& x, const torch::nn::Linear& layer) override;
  torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& weight) override;
  torch::Tensor vocab_logits(const torch::Tensor& x, const torch::Tensor& weight) override;
  torch::Tensor sequence_part(const torch::Tensor& per_token) override;
  bool sequence_parallel() const { return sequence_parallel_; }

  // A parameter this rank holds a share of: along `dim`, 1/T of each of `groups` parts of the
  // whole, which is first padded with `padding` zero rows along dim 0 (a vocabulary that does not
  // split evenly, as Megatron pads it: the padded rows are never looked up, and their logits are
  // masked out of the loss, so they stay zero and change no result).
  struct Shard {
    torch::Tensor param;
    int64_t dim = 0, groups = 1, padding = 0;
    std::vector<int64_t> whole_sizes;  // unpadded
  };
  const std::vector<Shard>& shards() const { return shards_; }
  TpContext& context() { return tp_; }

 private:
  void shard(torch::Tensor& param, int64_t dim, int64_t groups, int64_t padding = 0);

  TpContext tp_;
  bool sequence_parallel_ = false;
  torch::Tensor padded_columns_;  // this rank's vocabulary columns that are padding (bool)
  std::vector<Shard> shards_;
};

// Rank `rank`'s share of `whole` (unpadded, as one device holds it) as `s` splits it.
torch::Tensor shard_of_whole(const torch::Tensor& whole, const TensorParallelLayers::Shard& s,
                             int rank, int world);

}  // namespace parallax
