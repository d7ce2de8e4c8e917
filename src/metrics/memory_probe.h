// MemoryProbe: a rank's memory by kind, measured from the allocator (tcmalloc's or glibc's count of
// allocated bytes on the CPU, the CUDA caching allocator on a GPU) at the points of the first steps
// where each kind comes into being; never from the tensors' sizes.
#pragma once
#include <c10/core/Device.h>

#include <cstdint>

namespace parallax {

// Bytes; -1 where not measured (the allocator cannot say, or no step ran).
struct MeasuredMemory {
  int64_t parameters = -1;       // the allocator's blocks under the rank's parameters and buffers
                                 // (each storage once; a freed one, a pipeline's other stages or
                                 // ZeRO-3's gathered buckets between uses, holds none), plus at
                                 // ZeRO-3 the most gathered buckets alive at once
  int64_t gradients = -1;        // held after the last probed step's backward less its start
                                 // (gradients reset at each step's start), or as the reducer
                                 // measured its buckets: kept ones, or ZeRO-2's shards plus the
                                 // most whole buckets alive at once
  int64_t optimizer_state = -1;  // the allocator's blocks under the optimizer's state tensors
  int64_t activations = -1;      // at the end of the last probed step's forward (pipelines: the
                                 // schedule's peak), less the step's start
  int64_t other = -1;            // peak less the four above (batches, buffers, kernel caches)
  int64_t peak = -1;             // the highest count in the last probed step (the first one's
                                 // one-off allocations are behind it), less before the model
};

class MemoryProbe {
 public:
  static constexpr int kProbedSteps = 2;

  explicit MemoryProbe(const c10::Device& device) : device_(device) {}

  // After the strategy is built: the allocator's count from before the model was, and what the
  // allocator set aside for the storages the rank's parameters and buffers now live in.
  void model_built(int64_t before_model_bytes, int64_t parameter_storage_bytes);
  bool probing() const { return step_ < kProbedSteps; }
  // Phase points of a step; no-ops once the probed steps are over. step_begin() comes after the
  // previous gradients are reset (or zeroed).
  void step_begin();
  void forward_end(int64_t not_activations = 0);  // less bytes known to be something else
  void activations(int64_t bytes);  // measured by the caller instead (a pipeline's schedule)
  void backward_end();
  // After the optimizer step, with what the allocator set aside for its state tensors' storages.
  void optimizer_end(int64_t optimizer_state_bytes);
  void step_end();
  void sample();  // anywhere in between: the peak only
  // Gradients measured by their owner instead (a reducer's buckets, from the allocator's count
  // around each allocation), in place of the phase difference.
  void set_gradients(int64_t bytes) {
    if (probing()) gradients_ = bytes;
  }
  // ZeRO-3: the most bytes of gathered parameter buckets alive at once, on top of the resident
  // chunks (measured by the allocator's size of each bucket).
  void set_gathered_parameters(int64_t bytes) {
    if (probing()) gathered_ = bytes;
  }

  MeasuredMemory result() const;

 private:
  int64_t now();

  c10::Device device_;
  int step_ = 0;
  int64_t before_model_ = -1, parameters_ = -1;
  int64_t step_begin_ = -1, backward_end_ = -1;
  int64_t last_gradients_ = -1, optimizer_state_ = -1, activations_ = -1;
  int64_t gradients_ = -1, gathered_ = 0;
  int64_t peak_ = -1, step_peak_ = -1;  // all samples; the last probed step's
};

}  // namespace parallax
