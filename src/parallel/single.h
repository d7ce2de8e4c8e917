// SingleDevice: the whole model and optimizer on one device; the baseline every strategy is held
// to.
#pragma once
#include <torch/optim/optimizer.h>

#include "parallel/strategy.h"

namespace parallax {

class SingleDevice : public Strategy {
 public:
  SingleDevice(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model);

  StepStats train_step(const Batch& batch) override;
  EvalStats evaluate(Loader& test) override;
  void set_lr(double lr) override;
  MemoryStats memory() const override;
  std::vector<torch::Tensor> resident_state() const override;  // the model's parameters, buffers
  void save(torch::serialize::OutputArchive& archive) override;
  void load(torch::serialize::InputArchive& archive) override;

 protected:
  // place_model false: the model stays where it was built (the CPU) until the subclass places the
  // part it owns (pipeline stages).
  SingleDevice(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model,
               bool place_model);
  // Puts the model's parameters and buffers where this rank keeps them, after a checkpoint load:
  // all on the device here; a pipeline stage keeps its own blocks and frees the others.
  virtual void place_model();
  // The checkpoint layout every strategy shares: "model" and "optimizer" (over the whole model).
  void save_with(torch::serialize::OutputArchive& archive, torch::optim::Optimizer& optimizer);
  void load_with(torch::serialize::InputArchive& archive, torch::optim::Optimizer& optimizer);
  // After optimizer_'s step: its state as the allocator holds it, for the memory probe.
  void record_optimizer_state();
  // Bytes of these parameters, their gradients, and optimizer_'s state.
  MemoryStats memory_of(const std::vector<torch::Tensor>& params) const;

  std::shared_ptr<ModelBlocks> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  torch::Device device_;
};

}  // namespace parallax
