// Optimizers (LibTorch's SGD, Adam and AdamW) built from the config, and the bytes of their state.
#pragma once
#include <torch/optim/optimizer.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace parallax {

// Which parameters AdamW's decoupled weight decay reaches. kByShape: nanoGPT's rule, those of 2
// or more dimensions (matrices, convolutions, embeddings), never biases or norm weights; each
// kind gets a parameter group of its own. kCallerApplies: none, the caller decays them itself
// (ZeRO: a flat shard holds both kinds; see optim/decoupled_decay.h). SGD and Adam add their
// L2 penalty to every parameter's gradient either way.
enum class DecayRule { kByShape, kCallerApplies };

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& cfg,
                                                        std::vector<torch::Tensor> params,
                                                        DecayRule rule = DecayRule::kByShape);

// nanoGPT's rule: AdamW decays a parameter of 2 or more dimensions.
inline bool decays_by_shape(int64_t dims) {
  return dims >= 2;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// The momentum buffers (SGD) or moment estimates (Adam, AdamW) held now (undefined ones included).
std::vector<torch::Tensor> optimizer_state_tensors(const torch::optim::Optimizer& optimizer);

// Bytes of momentum buffers (SGD) or moment estimates (Adam, AdamW) held now.
int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer);

// One parameter's optimizer state as named tensors ("momentum_buffer" for SGD; "exp_avg",
// "exp_avg_sq", "max_exp_avg_sq" for Adam and AdamW) and their step count: what ZeRO shards and
// consolidates. Names are sorted (std::map), so every rank walks them in the same order.
struct ParamState {
  std::map<std::string, torch::Tensor> tensors;
  int64_t step = 0;
};
std::optional<ParamState> get_param_state(const torch::optim::Optimizer& optimizer,
                                          const torch::Tensor& param);
void set_param_state(torch::optim::Optimizer& optimizer, const torch::Tensor& param,
                     const ParamState& state);

}  // namespace parallax
