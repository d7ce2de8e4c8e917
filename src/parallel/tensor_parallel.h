// Tensor parallelism's building blocks (Megatron-LM: Shoeybi et al. 2019), over a group of T
// ranks that each hold 1/T of a layer's weights:
// - the conjugate operators: f (tp_enter) is the identity forward and an all-reduce of the
//   gradient backward, where a column-parallel region begins; g (tp_leave) is an all-reduce
//   forward and the identity backward, where a row-parallel region ends. A transformer block
//   then moves exactly one all-reduce of batch x tokens x width elements per attention and per
//   MLP each way;
// - a weight's shard: rank r's contiguous 1/T along a dimension;
// - the column- and row-parallel linear layers a model's builder is to take in place of its
//   plain ones (shared/DESIGN.md: the model code stays the same for one device and for TP).
// Every all-reduce goes through the collectives layer (distributed/collectives.h), named.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>

#include "distributed/torch_compat.h"

namespace parallax {

class Timeline;

// What a tensor-parallel module moved: all-reduces and their elements, forward and backward.
struct TpTraffic {
  // Collectives and the elements of the whole tensors they join: all-reduces, and under
  // sequence parallelism reduce-scatters and all-gathers (each of the whole b x s x h).
  int64_t forward_all_reduces = 0, forward_elements = 0;
  int64_t backward_all_reduces = 0, backward_elements = 0;
  int64_t forward_reduce_scatters = 0, forward_all_gathers = 0;
  int64_t backward_reduce_scatters = 0, backward_all_gathers = 0;
  int64_t bytes = 0;   // both ways, as the tensors held them
  double seconds = 0;  // the host waited for them (on the critical path: nothing overlaps them)
};
// What moved between two readings of the same counters (b taken after a).
TpTraffic operator-(const TpTraffic& b, const TpTraffic& a);

// The group a tensor-parallel module's operators reduce over, and what they moved. It must
// outlive every graph built through it (the backward reduces over it).
struct TpContext {
  compat::Group group;
  int rank = 0, world = 1;
  TpTraffic traffic;
  // Where each all-reduce goes as a span on the comm lanes, named with its bytes (null: none).
  Timeline* timeline = nullptr;
};

// Counts a collective over `t` (an all-reduce, or sequence parallelism's all-gather or
// reduce-scatter) that began at start_us and has just completed on the host (Gloo waits for it):
// its bytes, its wait, and its span on the timeline.
void record_tp_collective(TpContext& tp, const char* purpose, const torch::Tensor& t,
                          double start_us, double seconds);

// f: x forward; its gradient summed over the group backward.
torch::Tensor tp_enter(const torch::Tensor& x, TpContext& tp, const char* purpose);
// g: x summed over the group forward; its gradient as it is backward.
torch::Tensor tp_leave(const torch::Tensor& x, TpContext& tp, const char* purpose);

// Rank `rank`'s 1/world of `t` along `dim`, a copy (a leaf of its own). The size along `dim`
// must divide by world.
torch::Tensor shard_of(const torch::Tensor& t, int64_t dim, int rank, int world);
// Rank `rank`'s 1/world of each of `groups` equal parts of `t` along `dim`, concatenated (a
// fused QKV projection's rows: its heads' q, k and v). groups 1 is shard_of.
torch::Tensor grouped_shard_of(const torch::Tensor& t, int64_t dim, int64_t groups, int rank,
                               int world);
// The inverse, for one rank: writes `shard` (as grouped_shard_of gave it) into its places in
// `whole`, leaving the other ranks' places as they are.
void place_grouped_shard(torch::Tensor& whole, const torch::Tensor& shard, int64_t dim,
                         int64_t groups, int rank, int world);

// Y = f(X) W_r^T + b_r: rank r's share of a whole linear layer's output features. With `groups`
// > 1 the whole layer's outputs are that many equal parts (a fused QKV projection: q, k, v), and
// rank r keeps its 1/T of each, concatenated (its heads' q, k and v).
class ColumnParallelLinearImpl : public torch::nn::Module {
 public:
  ColumnParallelLinearImpl(const torch::Tensor& weight, const torch::Tensor& bias, TpContext& tp,
                           const char* purpose, int64_t groups = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;  // this rank's rows of the whole one's

 private:
  TpContext& tp_;
  const char* purpose_;
};
TORCH_MODULE(ColumnParallelLinear);

// Y = g(X_r W_r^T) + b: rank r's input features (its columns of the whole weight) in, the whole
// output summed over the group, the bias (whole, on every rank) added once after the sum.
class RowParallelLinearImpl : public torch::nn::Module {
 public:
  RowParallelLinearImpl(const torch::Tensor& weight, const torch::Tensor& bias, TpContext& tp,
                        const char* purpose);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

 private:
  TpContext& tp_;
  const char* purpose_;
};
TORCH_MODULE(RowParallelLinear);

}  // namespace parallax
