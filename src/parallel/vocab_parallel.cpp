// The vocabulary-parallel embedding and cross-entropy, composed of tp_leave (a sum over the group
// forward, the identity backward) and one max that needs no gradient (softmax does not change
// when every logit moves alike).
#include "parallel/vocab_parallel.h"

#include <torch/torch.h>

#include "distributed/collectives.h"
#include "metrics/clock.h"
#include "metrics/timeline.h"

namespace parallax {

int64_t vocab_start(int64_t vocab, const TpContext& tp) {
  return vocab / tp.world * tp.rank;
}

torch::Tensor vocab_parallel_lookup(const torch::Tensor& tokens, const torch::Tensor& shard,
                                    const TpContext& tp) {
  const int64_t rows = shard.size(0), start = rows * tp.rank;
  const auto mine = (tokens >= start).logical_and(tokens < start + rows);
  const auto local = torch::where(mine, tokens - start, torch::zeros_like(tokens));
  return torch::embedding(shard, local) * mine.unsqueeze(-1).to(shard.scalar_type());
}

torch::Tensor vocab_parallel_embedding(const torch::Tensor& tokens, const torch::Tensor& shard,
                                       TpContext& tp) {
  return tp_leave(vocab_parallel_lookup(tokens, shard, tp), tp, "tp embedding");
}

torch::Tensor vocab_parallel_cross_entropy(const torch::Tensor& local_logits,
                                           const torch::Tensor& targets, TpContext& tp) {
  const int64_t columns = local_logits.size(-1), start = columns * tp.rank;
  const auto logits = local_logits.reshape({-1, columns});
  const auto target = targets.reshape({-1});
  // The largest logit over the whole vocabulary, a constant to the gradient.
  torch::Tensor top;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> t{std::get<0>(logits.max(-1)).contiguous()};
    if (tp.world > 1) {
      const double start_us = tp.timeline ? tp.timeline->now_us() : 0;
      const Stopwatch watch;
      all_reduce_max(tp.group, t, "tp cross-entropy max")->wait();
      ++tp.traffic.forward_all_reduces;
      tp.traffic.forward_elements += t[0].numel();
      record_tp_collective(tp, "tp cross-entropy max", t[0], start_us, watch.seconds());
    }
    top = t[0];
  }
  const auto shifted = logits - top.unsqueeze(-1);
  const auto sum_exp = tp_leave(shifted.exp().sum(-1), tp, "tp cross-entropy sum");
  const auto mine = (target >= start).logical_and(target < start + columns);
  const auto local = torch::where(mine, target - start, torch::zeros_like(target));
  const auto picked = shifted.gather(-1, local.unsqueeze(-1)).squeeze(-1) *
                      mine.to(shifted.scalar_type());
  const auto target_logit = tp_leave(picked, tp, "tp cross-entropy target");
  return (sum_exp.log() - target_logit).mean();
}

}  // namespace parallax
