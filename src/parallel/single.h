// SingleDevice: the whole model and optimizer on one device; the baseline every strategy is held
// to.
#pragma once
#include <torch/optim/optimizer.h>

#include "metrics/step_trace.h"
#include "optim/loss_scaler.h"
#include "parallel/mixed_precision.h"
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
  // The whole model's parameters, buffers and optimizer state, written by replica 0.
  std::vector<StatePiece> state_pieces(const OptimizerStateSpec* load) override;
  nlohmann::json checkpoint_extra() const override;
  void restore_checkpoint_extra(const nlohmann::json& extra) override;
  void write_trace(const std::string& path) const override;

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
  // The named buffers of the model that `keep` accepts, as whole pieces (this rank writes them
  // where `writes`).
  void add_buffer_pieces(std::vector<StatePiece>& out, bool writes,
                         const std::function<bool(const torch::Tensor&)>& keep = nullptr) const;
  // After optimizer_'s step: its state as the allocator holds it, for the memory probe.
  void record_optimizer_state();
  // Bytes of these parameters, their gradients, and optimizer_'s state.
  MemoryStats memory_of(const std::vector<torch::Tensor>& params) const;

  // Logits under autocast (--precision), cross-entropy in the model's dtype outside it.
  torch::Tensor forward_logits(const torch::Tensor& images);
  // The task's loss, its count of right answers, and the whole model's squared gradient norm (a
  // double on the device): one device's; tensor parallelism's logits and gradients are split.
  virtual torch::Tensor loss_of(const torch::Tensor& logits, const torch::Tensor& labels);
  virtual torch::Tensor correct_of(const torch::Tensor& logits, const torch::Tensor& labels);
  virtual torch::Tensor whole_squared_grad_norm();
  // After backward, before the norm and the update: gradients made those of the global batch
  // (nothing to do on one device; tensor parallelism's data-parallel replicas average theirs).
  virtual void reduce_gradients() {}
  // What backward starts from: the loss times fp16's loss scale (the loss itself otherwise).
  torch::Tensor scaled(const torch::Tensor& loss) const;
  double loss_scale() const { return precision_.loss_scaling ? scaler_.scale() : 1.0; }
  // fp16 without a reducer to fold it into: each defined .grad divided by the loss scale in place
  // (inf stays inf, so a later overflow check still sees it).
  static void divide_gradients(const std::vector<torch::Tensor>& params, double scale);
  // fp16: from the step's squared gradient norm over every rank (so all decide alike), whether
  // the optimizer may step; the scaler backs off or grows. Sets skip_update_ and the stats.
  // A non-finite loss (fp16's forward overflowed; the sum over ranks) is skipped alike.
  void gate_update(double grad_norm_sq, StepStats& stats, double loss = 0);
  // The optimizer's step, unless fp16's gradients overflowed this step.
  void step_optimizer() {
    if (!skip_update_) optimizer_->step();
  }
  // --grad-clip: whether this step's gradients are clipped before the update (not when fp16
  // skips it), and their factor from the whole model's squared gradient norm (after unscaling;
  // a device tensor, so no host sync).
  bool clips() const { return grad_clip_ > 0 && !skip_update_; }
  torch::Tensor clip_factor(const torch::Tensor& squared_norm) const;

  std::shared_ptr<ModelBlocks> model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  torch::Device device_;
  Precision precision_;
  LossScaler scaler_;
  bool skip_update_ = false;
  double grad_clip_ = 0;  // --grad-clip: the whole gradient's largest L2 norm (0: no clipping)
  torch::ScalarType model_dtype_;  // of the parameters: the loss is computed in it
  bool channels_last_ = false;     // --channels-last: kept through checkpoint loads
  int replica_ = 0;  // this rank's data-parallel replica: replica 0 writes replicated state
  // --trace (the default): this rank's steps on its timeline; null with --no-trace.
  std::unique_ptr<StepTrace> trace_;
  void trace_begin() {
    if (trace_) trace_->begin_step();
  }
  void trace_phase(const char* name) {
    if (trace_) trace_->phase(name);
  }
  void trace_boundary() {
    if (trace_) trace_->boundary();
  }
  void trace_end() {  // after the step's host sync
    if (trace_) trace_->end_step();
  }
};

}  // namespace parallax
