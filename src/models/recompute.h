// Activation recomputation (--recompute): a function's forward runs without autograd keeping what
// its backward needs, only its inputs, and runs again inside that backward to produce the
// gradients (PyTorch's torch.utils.checkpoint, which LibTorch lacks). `full` wraps each block of a
// model (ModelBlocks::set_recompute); `selective` wraps a transformer's attention core only
// (QK^T, scale, mask, softmax, dropout, times V: Korthikanti et al. 2022; models/attention.cpp).
#pragma once
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

namespace parallax {

enum class Recompute { kNone, kFull, kSelective };

// --recompute's names: none, full, selective; UserError naming them for another.
Recompute recompute_from_name(const std::string& name);

using RecomputedFunction = std::function<torch::Tensor(const std::vector<torch::Tensor>& inputs)>;

// f(inputs), with autograd keeping only `inputs` (and the random-number and autocast state).
// Its backward runs f again with gradients on: dropout draws the same masks (the generators'
// states are restored, then put back), autocast is as it was in forward, and `buffers` (BatchNorm's
// running statistics) are restored afterwards, so they are updated once, by forward. It hands
// autograd the gradients of the inputs and of `parameters` (the leaves f reads besides its
// inputs, a tied weight included): autograd accumulates them into .grad and fires the parameters'
// hooks as for any backward, once per parameter; none fires inside the recomputation.
// Under a zero-bubble split (parallel/split_backward.h), I recomputes once and computes both; the
// parameters' gradients wait for W. With gradients off, or nothing requiring one, it is f(inputs).
torch::Tensor recompute(const RecomputedFunction& f, const std::vector<torch::Tensor>& inputs,
                        const std::vector<torch::Tensor>& parameters,
                        const std::vector<torch::Tensor>& buffers = {});

}  // namespace parallax
