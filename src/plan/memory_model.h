// The memory model: each rank's bytes by kind for a strategy, predicted from the block list (each
// block's parameter elements and buffer bytes), the sharding rules, the bucket layout, and the
// activation bytes one profiled forward per block measured at the micro-batch shape. Pure: the
// profiling is the caller's (plan/activation_profile.h).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace parallax {

struct MemoryWorkload {
  std::vector<int64_t> block_params;        // parameter elements per block, in model order
  std::vector<int64_t> param_numels;        // each parameter's elements, in model order
  std::vector<size_t> param_block;          // each parameter's block
  std::vector<int64_t> block_buffer_bytes;  // BatchNorm's running statistics per block
  int64_t element_bytes = 4;                // fp32 4, fp64 8
  int optimizer_slots = 1;                  // tensors of state per parameter: SGD momentum 1
                                            // (0 without momentum), Adam 2
  int64_t batch = 32;                       // global batch
  int64_t input_bytes_per_image = 0;        // the batch tensor's bytes per image
  // Activation bytes each block holds for backward, by micro-batch rows (profiled).
  std::map<int64_t, std::vector<int64_t>> activations_by_rows;
  // Kernel caches and workspaces each block keeps once it has run, by micro-batch rows (profiled).
  std::map<int64_t, std::vector<int64_t>> workspace_by_rows;
  // --recompute: the setting the activations above were profiled under, and what each block's
  // backward builds again for a while (its activations without recomputation less those it
  // holds with it; one block at a time), by micro-batch rows. Empty for none.
  std::string recompute = "none";
  std::map<int64_t, std::vector<int64_t>> rebuilt_by_rows;
  // Gradient buckets as the reducer plans them (MiB).
  double first_bucket_mb = 1, bucket_mb = 25, tail_bucket_mb = 1;
  bool wire_bf16 = false;  // --grad-reduce-dtype bf16: each reduced bucket has a 2-byte copy
};

struct MemoryCandidate {
  std::string label;        // "zero-2 nproc 4", "pipeline 1f1b m8"...
  std::string strategy;     // single | ddp | zero | model | pipeline
  int world = 1;            // ranks
  int zero_stage = 1;
  int buckets_in_flight = 2;
  bool reshard_after_forward = true;
  std::string schedule = "1f1b";     // pipeline: a --pipeline-schedule name
  int micro_batches = 1;             // pipeline; model is 1
  // pipeline: first block of each piece (stages x virtual_stages), then the block count
  std::vector<size_t> cuts;
  int virtual_stages = 1;            // pipeline: chunks per rank
};

struct PredictedMemory {
  int64_t parameters = 0, gradients = 0, optimizer_state = 0, activations = 0;
  int64_t other = 0;  // the input batch and the blocks' workspaces
  int64_t peak = 0;
};

// The rows (images) one micro-batch of this candidate has: what activations_by_rows must hold.
int64_t micro_batch_rows(const MemoryWorkload& w, const MemoryCandidate& c);

// One entry per rank (a pipeline's ranks differ; data-parallel ranks are alike).
std::vector<PredictedMemory> predict_memory(const MemoryWorkload& w, const MemoryCandidate& c);

// The ZeRO paper's per-rank model-state bytes (parameters + gradients + optimizer state) for Ψ
// parameters: Adam in mixed precision (fp16 weights and gradients, 12 bytes of fp32 master
// weights and moments) gives DP 16Ψ, ZeRO-1 4Ψ + 12Ψ/N, ZeRO-2 2Ψ + 14Ψ/N, ZeRO-3 16Ψ/N. The same
// rule for weights and gradients of e bytes and k optimizer tensors of e bytes each (fp32 SGD
// with momentum: e = 4, k = 1, so DP 12Ψ, ZeRO-1 8Ψ + 4Ψ/N ...). `stage` 0 is plain DP.
double zero_rule_bytes(int stage, double psi, int world, double weight_bytes,
                       double optimizer_bytes);

}  // namespace parallax
