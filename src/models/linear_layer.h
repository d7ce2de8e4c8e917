// A Linear layer's forward through at::linear. LibTorch's C++ torch::nn::Linear::forward calls
// torch::nn::functional::linear, which for an input above 2-D runs matmul and then an in-place
// `+= bias`: under autocast the fp32 bias is added into the bf16 output through a cast, and the
// bias is not folded into the GEMM. at::linear autocasts as one op and folds a contiguous input to
// one addmm, as PyTorch's Python nn.Linear does (measured on gpt-char, bf16, 1 thread: 10 ms of a
// 320 ms step went to those casting adds).
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>

namespace parallax {

inline at::Tensor linear_forward(const torch::nn::Linear& layer, const at::Tensor& x) {
  return at::linear(x, layer->weight, layer->bias);
}

}  // namespace parallax
