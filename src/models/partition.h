// Partition: the model's block list cut into contiguous pipeline stages, by named cut points or
// balanced by a per-block cost (block count, parameter count, or measured time).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace parallax {

class ModelBlocks;

struct Partition {
  std::vector<size_t> cuts;  // stage s runs blocks [cuts[s], cuts[s + 1]); cuts.front() == 0
  int stages() const { return static_cast<int>(cuts.size()) - 1; }
};

// "layer3.0" or "layer2.0,layer3.0": each name starts a stage. UserError for an unknown block,
// names out of order, or a count that does not make `stages` stages.
Partition partition_at(const std::vector<std::string>& block_names, const std::string& split_at,
                       int stages);

// Contiguous stages, each at least one block, minimising the largest stage's total cost (ties:
// the earliest cut). Pure; UserError when there are more stages than blocks.
Partition partition_balanced(const std::vector<double>& costs, int stages);

// Per-block cost for --balance: "blocks" (1 each), "params" (parameter count) or "time" (seconds
// of forward + backward of each block alone on an input of `input_shape`, best of a few runs).
std::vector<double> block_costs(ModelBlocks& model, const std::string& by,
                                const std::vector<int64_t>& input_shape, torch::Device device);

// Each block's output shape (batch dimension included) for an input of `input_shape`; with
// `dtypes`, each output's dtype too (under whatever autocast the caller has on).
std::vector<std::vector<int64_t>> block_output_shapes(ModelBlocks& model,
                                                      const std::vector<int64_t>& input_shape,
                                                      torch::Device device,
                                                      std::vector<c10::ScalarType>* dtypes = nullptr);

}  // namespace parallax
