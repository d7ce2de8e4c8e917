// Sequence parallelism (Korthikanti et al. 2022, with Megatron-LM's tensor parallelism): between
// the split layers, the residual stream, LayerNorms and dropout hold 1/T of the tokens on each
// rank instead of all of them. Tensor parallelism's f and g (tensor_parallel.h) become an
// all-gather and a reduce-scatter along the sequence, which together move what one all-reduce
// did. Activations [batch, tokens, width]; the token count must divide by the group's size.
#pragma once
#include <torch/types.h>

#include "parallel/tensor_parallel.h"

namespace parallax {

// Where a column-parallel region begins: this rank's tokens [b, s/T, h] forward, every rank's
// tokens [b, s, h] out (an all-gather); backward, the gradient summed over the group and this
// rank's tokens of it kept (a reduce-scatter).
torch::Tensor sp_gather(const torch::Tensor& x, TpContext& tp, const char* purpose);
// Where a row-parallel region ends: the partial sums [b, s, h] summed over the group, this
// rank's tokens [b, s/T, h] out (a reduce-scatter); backward, an all-gather.
torch::Tensor sp_scatter(const torch::Tensor& x, TpContext& tp, const char* purpose);
// This rank's tokens of a replicated [..., s, h] tensor along `dim` (no communication).
torch::Tensor sp_part(const torch::Tensor& x, const TpContext& tp, int64_t dim);

}  // namespace parallax
