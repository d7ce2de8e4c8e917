// TensorParallel (--strategy tensor): Megatron-LM's tensor parallelism over --tp ranks that all
// see the same batch, in world / tp data-parallel replicas (each its share of the batch; their
// gradients averaged over the replicas after backward). Each rank holds its shards of the split layers (attention's heads, the
// MLP's hidden features, the vocabulary) and replicas of the rest (LayerNorms, the row-parallel
// biases, the position embedding), whose gradients come out equal on every rank. The loss is the
// vocabulary-parallel cross-entropy (the logits are never gathered), the gradient norm sums the
// shards over the group and counts the replicas once, and a checkpoint is one device's layout:
// the shards are gathered to save and sliced again to load, so it resumes under any strategy.
#pragma once
#include <memory>
#include <optional>
#include <unordered_set>

#include "optim/optimizer.h"
#include "parallel/single.h"
#include "parallel/tensor_parallel_layers.h"

namespace parallax {

class TensorParallel : public SingleDevice {
 public:
  // Shards `model` (built whole) through `layers` before the optimizer sees its parameters.
  TensorParallel(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model,
                 std::shared_ptr<TensorParallelLayers> layers);

  StepStats train_step(const Batch& batch) override;
  EvalStats evaluate(Loader& test) override;
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;
  void checkpoint_written() override;  // back to this rank's shards
  // Sharded: each split parameter's rows or columns this rank holds (replica 0 of each shard
  // writes), the replicated ones from TP rank 0 of replica 0.
  std::vector<StatePiece> state_pieces(const OptimizerStateSpec* load) override;
  nlohmann::json details() const override;

 protected:
  torch::Tensor loss_of(const torch::Tensor& logits, const torch::Tensor& labels) override;
  torch::Tensor correct_of(const torch::Tensor& logits, const torch::Tensor& labels) override;
  torch::Tensor whole_squared_grad_norm() override;
  void reduce_gradients() override;

 private:
  // `t`, one shard of a tensor split as `shard` says, made whole on every rank of the group.
  torch::Tensor gathered(const torch::Tensor& t, const TensorParallelLayers::Shard& shard);

  std::shared_ptr<TensorParallelLayers> layers_;
  compat::Group world_pg_, dp_pg_;
  int world_ = 1, dp_size_ = 1;
  bool on_device_streams_ = false;  // NCCL: the host does not wait for the all-reduces
  torch::Tensor flat_grads_;  // the replicas' all-reduce buffer, reused step to step
  torch::Tensor flat_replica_grads_;  // sequence parallelism's replicated gradients, likewise
  std::unordered_set<const void*> sharded_;  // the split parameters' TensorImpls
  TpTraffic last_step_;                      // what the last training step moved
  // While a checkpoint is being written: this rank's shards and their optimizer state.
  std::vector<torch::Tensor> own_;
  std::vector<std::optional<ParamState>> own_state_;
};

}  // namespace parallax
