// Partition: named cuts, a dynamic programme over contiguous cuts, and per-block profiling.
#include "models/partition.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <sstream>

#include "config/user_error.h"
#include "metrics/clock.h"
#include "models/blocks.h"

namespace parallax {
namespace {

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

std::string stages_error(int stages, size_t blocks) {
  return std::to_string(stages) + " stages but the model has only " + std::to_string(blocks) +
         " blocks; use at most " + std::to_string(blocks) + " ranks per pipeline";
}

}  // namespace

Partition partition_at(const std::vector<std::string>& block_names, const std::string& split_at,
                       int stages) {
  const auto names = split_list(split_at);
  if (static_cast<int>(names.size()) != stages - 1)
    throw UserError("--split-at " + split_at + ": " + std::to_string(names.size()) +
                    " cut(s) make " + std::to_string(names.size() + 1) + " stages, but there are " +
                    std::to_string(stages) + " ranks per pipeline; give " +
                    std::to_string(stages - 1) + " block name(s)");
  Partition p;
  p.cuts.push_back(0);
  for (const auto& name : names) {
    const auto it = std::find(block_names.begin(), block_names.end(), name);
    if (it == block_names.end()) {
      std::string known;
      for (size_t i = 1; i < block_names.size(); ++i) known += (i > 1 ? ", " : "") + block_names[i];
      throw UserError("--split-at " + name + ": no such block; the blocks a stage can start at: " +
                      known);
    }
    const auto at = static_cast<size_t>(it - block_names.begin());
    if (at <= p.cuts.back())
      throw UserError("--split-at " + split_at + ": " + name +
                      " must come after the previous cut (and not be the first block); list "
                      "blocks in model order");
    p.cuts.push_back(at);
  }
  p.cuts.push_back(block_names.size());
  return p;
}

Partition partition_balanced(const std::vector<double>& costs, int stages) {
  const size_t n = costs.size();
  if (stages < 1 || static_cast<size_t>(stages) > n)
    throw UserError("--balance: " + stages_error(stages, n));
  std::vector<double> prefix(n + 1, 0);
  for (size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + costs[i];
  const double inf = std::numeric_limits<double>::infinity();
  // best[s][i]: the smallest possible largest stage cost for blocks [0, i) in s stages.
  std::vector<std::vector<double>> best(stages + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<size_t>> from(stages + 1, std::vector<size_t>(n + 1, 0));
  best[0][0] = 0;
  for (int s = 1; s <= stages; ++s)
    for (size_t i = s; i <= n; ++i)
      for (size_t j = s - 1; j < i; ++j) {
        const double worst = std::max(best[s - 1][j], prefix[i] - prefix[j]);
        if (worst < best[s][i]) {  // strict: on a tie the earliest cut stays
          best[s][i] = worst;
          from[s][i] = j;
        }
      }
  Partition p;
  p.cuts.assign(stages + 1, 0);
  p.cuts[stages] = n;
  for (int s = stages; s > 0; --s) p.cuts[s - 1] = from[s][p.cuts[s]];
  return p;
}

std::vector<double> block_costs(ModelBlocks& model, const std::string& by,
                                const std::vector<int64_t>& input_shape, torch::Device device) {
  const auto& blocks = model.blocks();
  std::vector<double> costs;
  if (by == "blocks") return std::vector<double>(blocks.size(), 1.0);
  if (by == "params") {
    for (const auto& b : blocks) {
      int64_t n = 0;
      for (const auto& p : b.block->parameters()) n += p.numel();
      costs.push_back(static_cast<double>(n));
    }
    return costs;
  }
  // Time: each block alone, forward then backward from a gradient of ones, on the shape it really
  // gets. The first run warms up (allocator, kernels); the best of the next three counts. One block
  // at a time is on the device: a model too large for it can still be profiled and cut.
  // A constant input: drawing random numbers here would shift the seeded generator.
  auto x = model.token_input()
               ? model.example_input(input_shape, device)
               : torch::full(input_shape, 0.5,
                             torch::TensorOptions().dtype(model.scalar_type()).device(device));
  for (size_t index = 0; index < blocks.size(); ++index) {
    auto& block = *blocks[index].block;
    const auto params = block.parameters();
    const auto home = params.empty() ? device : params.front().device();
    // A block that borrows another's weight (a tied LM head) needs that block on the device too.
    std::vector<torch::nn::Module*> lenders;
    for (const auto& tie : model.ties())
      if (tie.user == index) lenders.push_back(blocks[tie.owner].block.get());
    for (auto* m : lenders) m->to(device);
    // Training mode, as in a step; the running statistics it updates are put back afterwards.
    std::vector<torch::Tensor> saved;
    for (const auto& t : block.buffers()) saved.push_back(t.clone());
    block.to(device);
    double best = std::numeric_limits<double>::infinity();
    torch::Tensor y;
    for (int run = 0; run < 4; ++run) {
      auto in = x.is_floating_point() ? x.detach().requires_grad_(true) : x;  // tokens: no gradient
      const Stopwatch watch;
      y = block.forward(in);
      y.backward(torch::ones_like(y));
      if (device.is_cuda()) y.sum().item<double>();  // wait for the device
      if (run > 0) best = std::min(best, watch.seconds());
    }
    costs.push_back(best);
    x = y.detach();
    for (auto& p : block.parameters()) p.mutable_grad().reset();
    for (auto* m : lenders) {
      for (auto& p : m->parameters()) p.mutable_grad().reset();
      m->to(home);
    }
    block.to(home);
    torch::NoGradGuard no_grad;
    auto buffers = block.buffers();
    for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved[i]);
  }
  return costs;
}

std::vector<std::vector<int64_t>> block_output_shapes(ModelBlocks& model,
                                                      const std::vector<int64_t>& input_shape,
                                                      torch::Device device,
                                                      std::vector<c10::ScalarType>* dtypes) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();  // running statistics untouched; BatchNorm accepts any batch size
  std::vector<std::vector<int64_t>> shapes;
  auto x = model.example_input(input_shape, device);
  for (const auto& b : model.blocks()) {
    x = b.block->forward(x);
    shapes.push_back(x.sizes().vec());
    if (dtypes) dtypes->push_back(x.scalar_type());
  }
  model.train(was_training);
  return shapes;
}

}  // namespace parallax
