// DataParallel (ddp): a full replica per rank; gradients averaged by the GradReducer.
#pragma once
#include <memory>

#include "parallel/grad_reducer.h"
#include "parallel/single.h"

namespace parallax {

class DataParallel : public SingleDevice {
 public:
  DataParallel(const Config& cfg, const DistContext& ctx, std::shared_ptr<ModelBlocks> model);

  StepStats train_step(const Batch& batch) override;
  EvalStats evaluate(Loader& test) override;

 private:
  void broadcast_from_root(std::vector<torch::Tensor> tensors);

  void exit_if_fault_injected();
  void verify_replicas();  // throws unless this rank holds bitwise rank 0's parameters

  DistContext ctx_;
  int64_t accumulate_;
  bool verify_replicas_;
  int64_t steps_ = 0;
  int64_t fault_step_ = -1;  // PARALLAX_FAULT="RANK:STEP": that rank dies at that step (tests)
  std::unique_ptr<GradReducer> reducer_;
  torch::Tensor step_sums_;  // [loss sum, correct, images]: one small all-reduce per step
};

}  // namespace parallax
