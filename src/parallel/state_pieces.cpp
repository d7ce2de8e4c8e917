// Pieces of one device's tensors: their coordinates, views, and the optimizer state that follows
// each parameter's part.
#include "parallel/state_pieces.h"

#include <torch/torch.h>

#include "config/user_error.h"
#include "optim/optimizer.h"

namespace parallax {

torch::Tensor part_of(const torch::Tensor& whole, const StatePiece& piece) {
  switch (piece.cut) {
    case StatePiece::Cut::kWhole:
      return whole;
    case StatePiece::Cut::kAlongDim:
      return whole.narrow(piece.dim, piece.start, piece.length);
    case StatePiece::Cut::kFlat: {
      // NHWC order: the whole in channels-last layout is NHWC-contiguous once permuted.
      const auto ordered =
          piece.channels_last
              ? whole.contiguous(at::MemoryFormat::ChannelsLast).permute({0, 2, 3, 1})
              : whole.contiguous();
      return ordered.reshape({-1}).narrow(0, piece.start, piece.length);
    }
  }
  return whole;
}

int64_t piece_numel(const StatePiece& piece) {
  int64_t whole = 1;
  for (int64_t s : piece.whole_sizes) whole *= s;
  switch (piece.cut) {
    case StatePiece::Cut::kWhole:
      return whole;
    case StatePiece::Cut::kAlongDim:
      return piece.whole_sizes[piece.dim] == 0 ? 0
                                               : whole / piece.whole_sizes[piece.dim] * piece.length;
    case StatePiece::Cut::kFlat:
      return piece.length;
  }
  return whole;
}

KeptPart whole_part(const std::string& name, const torch::Tensor& t) {
  KeptPart part;
  part.name = name;
  part.where.whole_sizes = t.sizes().vec();
  part.of = [](const torch::Tensor& x) { return x; };
  return part;
}

void add_kept_pieces(std::vector<StatePiece>& out, const torch::Tensor& kept,
                     const std::vector<KeptPart>& parts, bool writes,
                     torch::optim::Optimizer* optimizer, const OptimizerStateSpec* load,
                     bool params) {
  const auto add = [&](const std::string& key, const KeptPart& part, const torch::Tensor& of,
                       const std::string& state = "", int64_t step = 0) {
    StatePiece p = part.where;
    p.key = key;
    p.state = state;
    p.step = step;
    p.local = part.of(of);
    p.writes = writes;
    out.push_back(std::move(p));
  };
  if (params)
    for (const auto& part : parts) add("model." + part.name, part, kept);
  if (!optimizer) return;
  std::optional<ParamState> state;
  if (load) {
    if (load->names.empty()) return;  // the checkpoint holds no optimizer state
    ParamState created;
    created.step = load->step;
    for (const auto& name : load->names) created.tensors[name] = torch::zeros_like(kept);
    set_param_state(*optimizer, kept, created);
    // The optimizer keeps only the state it knows: another optimizer's would be dropped.
    state = get_param_state(*optimizer, kept);
    std::string has, keeps;
    for (const auto& [name, t] : created.tensors) has += (has.empty() ? "" : ", ") + name;
    if (state)
      for (const auto& [name, t] : state->tensors) keeps += (keeps.empty() ? "" : ", ") + name;
    if (has != keeps)
      throw UserError("the checkpoint holds optimizer state " + has + " where this run's " +
                      "optimizer keeps " + (keeps.empty() ? "none" : keeps) + ": resume with the " +
                      "--optimizer it was written with");
  } else {
    state = get_param_state(*optimizer, kept);
  }
  if (!state) return;
  for (const auto& [name, t] : state->tensors) {
    if (!t.defined()) continue;
    for (const auto& part : parts)
      add("optimizer." + part.name + "." + name, part, t, name, state->step);
  }
}

}  // namespace parallax
