// Optimizers (LibTorch's SGD and Adam) built from the config, and the bytes of their state.
#pragma once
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "config/config.h"

namespace parallax {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Config& cfg,
                                                        std::vector<torch::Tensor> params);

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Bytes of momentum buffers (SGD) or moment estimates (Adam) held now.
int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer);

}  // namespace parallax
