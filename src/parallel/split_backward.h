// The zero-bubble split of a backward pass into I (input gradient) and W (weight gradient),
// computing no gradient twice, with LibTorch's own autograd engine:
//   I runs the engine from the output back to the input with the gradient captured where it
//     enters each node that has parameters below it (a convolution, a batch norm, a matmul); the
//     engine skips every weight gradient (nothing asked for them) and keeps the graph;
//   W then cuts those nodes' edges to everything but their parameters and runs the engine once
//     from all of them with the captured gradients: each computes its weight gradients only,
//     accumulated into .grad as a full backward would (hooks fire as usual), and frees its graph.
#pragma once
#include <torch/types.h>

#include <memory>

namespace parallax {

struct PendingWeightGradient;  // the captured gradients and the graph kept for W

struct InputGradient {
  torch::Tensor input_grad;  // undefined where the input needs none (the first stage's images)
  std::shared_ptr<PendingWeightGradient> weights;
};

// I: from `output` with `grad` (undefined for a scalar loss: ones) back to `input`, a leaf that
// requires grad: it tells the activations' path from the parameters' (the first stage's images
// too, though their gradient is not computed unless `input_grad_needed`).
InputGradient backward_input(const torch::Tensor& output, const torch::Tensor& grad,
                             const torch::Tensor& input, bool input_grad_needed = true);

// W: accumulates the weight gradients I left into the parameters' .grad; frees the graph.
void backward_weight(PendingWeightGradient& pending);

}  // namespace parallax
