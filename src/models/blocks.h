// ModelBlocks: a network as an ordered list of named blocks that any strategy can cut into stages.
#pragma once
#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/recompute.h"

namespace torch::nn {
class BatchNorm2dImpl;
}  // namespace torch::nn

namespace parallax {

class SplitLayers;

// Replaces how a block applies its BatchNorm layers in training (e.g. statistics over all ranks);
// it gets the layer (its weight, bias and running statistics) and the input.
using NormOverride = std::function<torch::Tensor(torch::nn::BatchNorm2dImpl&, const torch::Tensor&)>;

// Called with a block's index just before the block runs forward (e.g. to wait until that block's
// parameters have arrived from other ranks).
using BeforeBlock = std::function<void(size_t block)>;
// Called with a block's index and output just after the block runs forward (e.g. to free that
// block's gathered parameters, or to hook its backward).
using AfterBlock = std::function<void(size_t block, const torch::Tensor& output)>;

// One block of a network: a module with a single tensor in and out.
class Block : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual void set_norm_override(const NormOverride& f) {}  // blocks without BatchNorm ignore it
  // Parameters the block reads but another block registers (a tied weight): recomputing the
  // block must hand back their gradients too.
  virtual std::vector<torch::Tensor> shared_parameters() const { return {}; }
  // Selective recomputation: the part a block recomputes in backward (a transformer's attention
  // core) on or off; false where the block has no such part.
  virtual bool set_selective_recompute(bool on) { return false; }
  // Tensor parallelism: the block shards its whole weights in place and runs its split layers
  // through `split` from now on; false where the block has none (a ResNet's).
  virtual bool split_layers(const std::shared_ptr<SplitLayers>& split) { return false; }
};

// A weight two blocks share (GPT's token embedding and its LM head): `owner` registers it as a
// parameter, `user` borrows it. A strategy that places the two apart gives the user a copy of its
// own (rebind) and sums the two gradients each step (Megatron's embedding group).
struct TiedWeight {
  size_t owner = 0, user = 0;  // block indices
  std::string name;            // the parameter's name within the owner block ("wte.weight")
  std::function<torch::Tensor()> weight;                // the owner's parameter
  std::function<void(const torch::Tensor&)> rebind;     // the user computes with this from now
};

struct NamedBlock {
  std::string name;  // "stem", "layer1.0", ..., "fc"
  std::shared_ptr<Block> block;
};

class ModelBlocks : public torch::nn::Module {
 public:
  // Registers the block under its dotted name ("layer3.0" becomes child "0" of child "layer3"),
  // so parameter names follow torchvision's ("layer3.0.conv1.weight").
  void add(const std::string& name, std::shared_ptr<Block> block);

  const std::vector<NamedBlock>& blocks() const { return blocks_; }
  int64_t index_of(const std::string& name) const;  // -1 if absent
  std::vector<std::string> block_names() const;

  // Runs blocks [begin, end) in order; forward(x) runs them all.
  torch::Tensor forward_range(torch::Tensor x, size_t begin, size_t end);
  torch::Tensor forward(const torch::Tensor& x) { return forward_range(x, 0, blocks_.size()); }
  // Block i as forward runs it (recomputed under --recompute full), without the before/after
  // hooks: what the planner's profilers time and measure.
  torch::Tensor run(size_t i, const torch::Tensor& x) { return run_block(*blocks_[i].block, x); }

  int64_t parameter_count() const;
  // The parameters' dtype (--dtype): inputs made up for profiling or shapes must match it.
  c10::ScalarType scalar_type() const;
  // Floating-point parameters and buffers to `dtype`; integer buffers (BatchNorm's
  // num_batches_tracked) stay as they are, unlike Module::to(dtype), which converts them all.
  void set_floating_dtype(c10::ScalarType dtype);
  // Convolution weights in channels-last (NHWC) memory order: oneDNN and cuDNN then keep
  // activations NHWC from layer to layer instead of reordering them per convolution.
  void set_channels_last();
  void set_norm_override(const NormOverride& f);  // on every block
  void set_before_block(BeforeBlock f) { before_block_ = std::move(f); }
  void set_after_block(AfterBlock f) { after_block_ = std::move(f); }
  // --recompute: full runs each block through recompute() (models/recompute.h) when gradients
  // are on, so every strategy and schedule sees ordinary blocks; selective asks each block for its
  // own part (UserError where no block has one: a ResNet). The before/after-block hooks run once
  // per forward, never for the recomputation in backward.
  void set_recompute(Recompute mode);
  // Every block's split layers through `split` (models/split_layers.h), their weights sharded in
  // place; UserError naming the first block that has none.
  void split_layers(const std::shared_ptr<SplitLayers>& split);
  Recompute recompute() const { return recompute_; }
  // For each block, the indices of its parameters in parameters() (which lists them block by
  // block, in order).
  std::vector<std::vector<size_t>> parameter_indices_by_block() const;
  // The same, plus the tied parameters each block borrows (what it needs present to run).
  std::vector<std::vector<size_t>> parameter_indices_used_by_block() const;

  void add_tie(TiedWeight tie) { ties_.push_back(std::move(tie)); }
  const std::vector<TiedWeight>& ties() const { return ties_; }

  // A language model's first block takes token ids (int64) where others take images.
  void set_token_input(bool tokens) { token_input_ = tokens; }
  bool token_input() const { return token_input_; }
  // Zeros of this shape that the first block accepts: token ids, or values in scalar_type().
  torch::Tensor example_input(const std::vector<int64_t>& shape, c10::Device device) const;

 private:
  torch::Tensor run_block(Block& block, const torch::Tensor& x);

  std::vector<NamedBlock> blocks_;
  Recompute recompute_ = Recompute::kNone;
  BeforeBlock before_block_;
  AfterBlock after_block_;
  std::vector<TiedWeight> ties_;
  bool token_input_ = false;
};

}  // namespace parallax
