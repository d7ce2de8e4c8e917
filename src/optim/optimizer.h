// Optimizers (LibTorch's SGD and Adam) built from the config, and the bytes of their state.
#pragma once
#include <torch/optim/optimizer.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace parallax {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& cfg,
                                                        std::vector<torch::Tensor> params);

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// The momentum buffers (SGD) or moment estimates (Adam) held now (undefined ones included).
std::vector<torch::Tensor> optimizer_state_tensors(const torch::optim::Optimizer& optimizer);

// Bytes of momentum buffers (SGD) or moment estimates (Adam) held now.
int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer);

// One parameter's optimizer state as named tensors ("momentum_buffer" for SGD; "exp_avg",
// "exp_avg_sq", "max_exp_avg_sq" for Adam) and Adam's step count: what ZeRO shards and
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
