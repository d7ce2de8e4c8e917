// A model's tensors under torchvision's names: parallax's blocks add "stem." before the stem's
// layers and "linear." inside the head; torchvision has conv1/bn1 at the top and fc as the Linear.
#pragma once
#include <torch/nn/module.h>

#include <string>
#include <utility>
#include <vector>

namespace parallax {

// "stem.conv1.weight" -> "conv1.weight", "fc.linear.bias" -> "fc.bias"; others are unchanged.
std::string torchvision_name(const std::string& name);

// Every parameter and buffer (BatchNorm's running statistics and num_batches_tracked) under its
// torchvision name, module by module in the model's order, as torchvision's state_dict() lists
// them.
std::vector<std::pair<std::string, torch::Tensor>> torchvision_state(
    const torch::nn::Module& model);

}  // namespace parallax
