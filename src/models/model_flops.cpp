// Model FLOPs: each block's convolutions chained from its input's size (a "downsample" branch
// from the block's input), its linear layers applied to every token of its input, and attention.
#include "models/model_flops.h"

#include <torch/torch.h>

#include <string>
#include <type_traits>

#include "models/partition.h"

namespace parallax {
namespace {

int64_t conv_out(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

// Padding along dimension d: explicit, "valid" (none) or "same". The option is a c10::variant on
// LibTorch 1.13 and a std::variant on 2.x: the unqualified visit finds either's by its namespace.
int64_t padding_of(const torch::nn::detail::ConvNdOptions<2>& o, size_t d) {
  return visit(
      [&](const auto& p) -> int64_t {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, torch::ExpandingArray<2>>) {
          return (*p)[d];
        } else if constexpr (std::is_same_v<P, torch::enumtype::kSame>) {
          return (*o.dilation())[d] * ((*o.kernel_size())[d] - 1) / 2;
        } else {
          return 0;
        }
      },
      o.padding());
}

// Multiply-accumulates of one block on one sample of this shape.
double block_macs(Block& block, const std::vector<int64_t>& in) {
  double macs = 0;
  const bool image = in.size() == 3;
  int64_t h = image ? in[1] : 0, w = image ? in[2] : 0;
  // Rows a linear layer sees: the tokens of a [T, width] input, or one image's features.
  const int64_t rows = in.size() == 2 ? in[0] : 1;
  for (const auto& item : block.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    if (const auto* conv = item.value()->as<torch::nn::Conv2d>()) {
      const auto& o = conv->options;
      const bool branch = name.find("downsample") != std::string::npos;
      const int64_t src_h = branch ? in[1] : h, src_w = branch ? in[2] : w;
      const int64_t oh = conv_out(src_h, (*o.kernel_size())[0], (*o.stride())[0],
                                  padding_of(o, 0), (*o.dilation())[0]);
      const int64_t ow = conv_out(src_w, (*o.kernel_size())[1], (*o.stride())[1],
                                  padding_of(o, 1), (*o.dilation())[1]);
      macs += static_cast<double>(oh * ow) * static_cast<double>(conv->weight.numel());
      if (!branch) h = oh, w = ow;
    } else if (const auto* linear = item.value()->as<torch::nn::Linear>()) {
      macs += static_cast<double>(rows) * static_cast<double>(linear->weight.numel());
    } else if (name == "attn" && in.size() == 2) {
      // QK^T and (softmax) x V: T x T x width each.
      macs += 2.0 * static_cast<double>(in[0]) * static_cast<double>(in[0] * in[1]);
    }
  }
  return macs;
}

}  // namespace

double forward_flops_per_sample(ModelBlocks& model, const std::vector<int64_t>& sample_shape) {
  std::vector<int64_t> input{1};
  input.insert(input.end(), sample_shape.begin(), sample_shape.end());
  const auto outputs = block_output_shapes(model, input, torch::kCPU);
  double macs = 0;
  std::vector<int64_t> in = sample_shape;
  for (size_t b = 0; b < model.blocks().size(); ++b) {
    macs += block_macs(*model.blocks()[b].block, in);
    // A block that borrows a tied weight (the LM head) multiplies every token by it.
    for (const auto& tie : model.ties())
      if (tie.user == b && in.size() == 2)
        macs += static_cast<double>(in[0]) *
                static_cast<double>(tie.weight().numel());
    in.assign(outputs[b].begin() + 1, outputs[b].end());
  }
  return 2 * macs;
}

}  // namespace parallax
