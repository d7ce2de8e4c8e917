// Strategy: how one training step is spread over ranks; the trainer never branches on its name.
#pragma once
#include <torch/types.h>

#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "config/config.h"
#include "data/batch.h"
#include "distributed/dist_context.h"
#include "metrics/memory_probe.h"
#include "models/blocks.h"
#include "parallel/state_pieces.h"

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace parallax {

class Loader;

struct StepStats {
  double loss = 0;         // mean loss of the step's global batch
  double compute_s = 0;    // forward + backward + optimizer
  double comm_s = 0;       // communication not hidden under compute (time spent waiting on it)
  // Of comm_s, ZeRO's waits for its parameters' all-gathers; the rest waited for the gradients'
  // collectives, the ones comm_busy_s times in flight.
  double gather_wait_s = 0;
  double comm_busy_s = 0;  // time the gradients' collectives were in flight, hidden or not
  double idle_s = 0;       // waiting on other ranks (pipeline bubble)
  int64_t images = 0;      // images in the global batch
  int64_t correct = 0;     // of which predicted right (training accuracy, before the update)
  bool stop = false;       // some rank was asked to stop (SIGINT/SIGTERM): every rank stops here
  double grad_norm = 0;    // L2 norm of the step's whole (averaged) gradient: divergence check
  double loss_scale = 1;   // fp16: the loss scale backward ran with
  bool skipped = false;    // fp16: the gradients held inf or nan; the optimizer did not step
};

struct EvalStats {
  double loss_sum = 0;
  int64_t correct = 0, total = 0;
  double loss() const { return total ? loss_sum / total : 0; }
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0; }
};

// Bytes this rank holds for the model, its gradients and the optimizer's state.
struct MemoryStats {
  int64_t param_bytes = 0, grad_bytes = 0, optimizer_state_bytes = 0;
};

class Strategy {
 public:
  explicit Strategy(const torch::Device& device) : probe_(device) {}
  virtual ~Strategy() = default;
  virtual StepStats train_step(const Batch& batch) = 0;  // forward, backward, sync, update
  virtual EvalStats evaluate(Loader& test) = 0;          // over the whole test split
  virtual void set_lr(double lr) = 0;
  virtual MemoryStats memory() const = 0;
  // Checkpoints: model parameters and buffers, and the optimizer state.
  virtual void save(torch::serialize::OutputArchive& archive) = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;
  // Where load() wants the archive's tensors: the rank's device, or the host for a strategy whose
  // ranks each keep a share of what the consolidated archive holds (ZeRO: each copies its own).
  virtual torch::Device checkpoint_load_device(const torch::Device& rank_device) const {
    return rank_device;
  }
  // The archive save() filled is written (or dropped): what it held only for that may go.
  virtual void checkpoint_written() {}
  // Sharded checkpoints (train/sharded_checkpoint.h): what this rank holds, as pieces of one
  // device's tensors whose `local` is the live tensor, so a save reads it and a load fills it in
  // place. `load` is null for a save; for a load it names the optimizer state the checkpoint
  // holds (none where its names are empty), which the strategy creates first.
  virtual std::vector<StatePiece> state_pieces(const OptimizerStateSpec* load) = 0;
  // Small state beside the pieces (fp16's loss scale), restored after a load.
  virtual nlohmann::json checkpoint_extra() const;
  virtual void restore_checkpoint_extra(const nlohmann::json& extra) {}
  // Strategy-specific figures for summary.json (bucket timings, stage costs...). Called on every
  // rank (it may gather figures from the others); rank 0's result is written.
  virtual nlohmann::json details() const;
  // This rank's Chrome trace (trace/rank<R>.json), where the strategy keeps one.
  virtual void write_trace(const std::string& path) const {}
  // Memory by kind, measured by the allocator (the trainer marks the count before the model is
  // built and after the strategy is; the strategy samples its first steps).
  MemoryProbe& memory_probe() { return probe_; }
  // The tensors whose storage this rank keeps for the model: parameters and buffers (and shards).
  virtual std::vector<torch::Tensor> resident_state() const = 0;
  MeasuredMemory measured_memory() const { return probe_.result(); }

 protected:
  MemoryProbe probe_;
};

// What the allocator set aside for these tensors' storages, each storage counted once (views
// share one); an emptied or freed storage counts 0.
int64_t storage_bytes(const std::vector<torch::Tensor>& tensors);

// Sum of the squares of these tensors' gradients, as a double scalar on their device (no sync).
torch::Tensor squared_grad_norm(const std::vector<torch::Tensor>& params);

// sample_shape: one input's shape (C, H, W).
std::unique_ptr<Strategy> make_strategy(const Config& cfg, const DistContext& ctx,
                                        std::shared_ptr<ModelBlocks> model,
                                        const std::vector<int64_t>& sample_shape);

}  // namespace parallax
