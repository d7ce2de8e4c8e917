// A strategy's checkpoint state as pieces of the tensors one device holds (parameters, buffers,
// optimizer state), each with where it lies in the whole: sharded checkpoints write each rank's
// pieces and reshard on load by these coordinates, whatever layout wrote them
// (train/sharded_checkpoint.h).
#pragma once
#include <torch/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace parallax {

struct StatePiece {
  // "model.<name>" for a parameter or buffer (its name in one device's model), and
  // "optimizer.<name>.<state>" for its optimizer state ("exp_avg", "momentum_buffer"...).
  std::string key;
  std::vector<int64_t> whole_sizes;  // the whole tensor's, as one device holds it
  enum class Cut { kWhole, kAlongDim, kFlat };
  Cut cut = Cut::kWhole;
  // kAlongDim: elements [start, start + length) along `dim`. kFlat: elements [start, start +
  // length) of the whole flattened in row-major order, or in NHWC order where channels_last.
  int64_t dim = 0, start = 0, length = 0;
  bool channels_last = false;
  torch::Tensor local;  // this rank's elements of that part: save reads them, load fills them
  bool writes = true;   // this rank writes it (one replica of each part writes)
  std::string state;    // an optimizer state's name ("exp_avg"); empty for the model's
  int64_t step = 0;     // an optimizer state's step count
};

// What a checkpoint holds per parameter in its optimizer: a load creates these state tensors
// (zeros, then filled from the pieces) at this step count.
struct OptimizerStateSpec {
  std::vector<std::string> names;
  int64_t step = 0;
};

// The view of `whole` (sizes whole_sizes) that `piece` covers, shaped as its `local`: a view where
// the layout allows, a copy otherwise (reading only).
torch::Tensor part_of(const torch::Tensor& whole, const StatePiece& piece);
int64_t piece_numel(const StatePiece& piece);  // the element count `piece` covers

// One part of a parameter inside a tensor a rank keeps (the parameter itself, its tensor-parallel
// shard, or the flat ZeRO chunk it shares with others): where the part lies in the whole
// parameter (`where`: its cut; key and local unset), and its elements within that kept tensor,
// or within any tensor shaped as it (the optimizer's state for it).
struct KeptPart {
  std::string name;  // the parameter's, in one device's model
  StatePiece where;
  std::function<torch::Tensor(const torch::Tensor&)> of;
};
KeptPart whole_part(const std::string& name, const torch::Tensor& t);

// The pieces of `kept`'s parts: "model.<name>" from `kept` itself (unless params is false), and
// with an optimizer, "optimizer.<name>.<state>" from each of its state tensors for `kept` (the
// tensor it steps). For a load with `spec`, that state is first created as zeros at spec's step
// count, so that the pieces fill it in place.
void add_kept_pieces(std::vector<StatePiece>& out, const torch::Tensor& kept,
                     const std::vector<KeptPart>& parts, bool writes,
                     torch::optim::Optimizer* optimizer, const OptimizerStateSpec* load,
                     bool params = true);

}  // namespace parallax
