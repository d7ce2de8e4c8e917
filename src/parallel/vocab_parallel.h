// The vocabulary over a tensor-parallel group (Megatron-LM): rank r of T holds the rows
// [rV/T, (r+1)V/T) of the token embedding, which the LM head shares. The embedding looks up the
// tokens it holds, zeros the others, and sums over the group (g); the head's logits stay split by
// vocabulary, and the cross-entropy takes the max and the sum of exponentials over the group,
// never gathering the logits on one rank.
#pragma once
#include <torch/types.h>

#include "parallel/tensor_parallel.h"

namespace parallax {

// The first token id rank `tp.rank`'s rows stand for, of a vocabulary of `vocab`.
int64_t vocab_start(int64_t vocab, const TpContext& tp);

// tokens (any shape, whole-vocabulary ids) to [..., width]: this rank's rows `shard` looked up,
// summed over the group. Gradients reach only the rows of the tokens this rank holds.
torch::Tensor vocab_parallel_embedding(const torch::Tensor& tokens, const torch::Tensor& shard,
                                       TpContext& tp);
// The same before the sum: the rows this rank holds, zeros for the others' tokens.
torch::Tensor vocab_parallel_lookup(const torch::Tensor& tokens, const torch::Tensor& shard,
                                    const TpContext& tp);

// The mean over targets of -log softmax(logits)[target], where `local_logits` [..., V/T] are this
// rank's vocabulary columns and `targets` [...] whole-vocabulary ids. Its gradient into
// local_logits is this rank's columns of softmax - one_hot(target), divided by the count.
torch::Tensor vocab_parallel_cross_entropy(const torch::Tensor& local_logits,
                                           const torch::Tensor& targets, TpContext& tp);

}  // namespace parallax
