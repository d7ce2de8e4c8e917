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
  nlohmann::json details() const override;
  void load(torch::serialize::InputArchive& archive) override;  // and hooks the reducer again

 protected:
  // After the gradients are reduced: the optimizer step, and for ZeRO the parameters'
  // all-gather. Returns the seconds spent waiting on communication.
  virtual double update();
  // Before anyone reads the parameters outside training (verification, evaluation, checkpoints):
  // finish whatever is still writing them (ZeRO's all-gathers).
  virtual void settle_parameters() {}
  // Communication waited for outside the reducer since the last call (ZeRO's forward waiting for
  // parameter all-gathers), in seconds; called once per step after its sync.
  virtual double exposed_comm_s() { return 0; }
  void broadcast_from_root(std::vector<torch::Tensor> tensors);
  // Bytes of gathered parameters alive now beyond the rank's own (ZeRO-3), which a memory sample
  // must not count as activations.
  virtual int64_t transient_parameter_bytes() const { return 0; }

  DistContext ctx_;
  std::unique_ptr<GradReducer> reducer_;

 private:
  void exit_if_fault_injected();
  // --grad-clip, before update(): the averaged gradients times clip_factor of the norm in `sums`.
  void clip_gradients(HostSum& sums);
  void verify_replicas();  // throws unless this rank holds bitwise rank 0's parameters

  int64_t accumulate_;
  bool verify_replicas_;
  int64_t steps_ = 0;
  int64_t timing_warmup_;    // steps left out of the buckets' timings
  int64_t fault_step_ = -1;  // PARALLAX_FAULT="RANK:STEP": that rank dies at that step (tests)
  // [loss sum, correct, images, stop, squared gradient norm]: one small all-reduce per step.
  torch::Tensor step_sums_;
};

}  // namespace parallax
