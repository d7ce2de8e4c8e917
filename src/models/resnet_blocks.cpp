// ResNet blocks: torchvision's layout and initialisation; option-A shortcuts for CIFAR ResNets.
#include "models/resnet_blocks.h"

#include <torch/torch.h>

namespace parallax {
namespace F = torch::nn::functional;

torch::nn::Conv2d ResNetBlock::conv(const std::string& name, int64_t in, int64_t out,
                                    int64_t kernel, int64_t stride) {
  auto c = register_module(name, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                       .stride(stride)
                                                       .padding(kernel / 2)
                                                       .bias(false)));
  torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
  return c;
}

torch::nn::BatchNorm2d ResNetBlock::norm(const std::string& name, int64_t channels) {
  if (!batch_norm_) return nullptr;
  return register_module(name, torch::nn::BatchNorm2d(channels));  // weight 1, bias 0
}

Stem::Stem(int64_t in_channels, int64_t out_channels, bool imagenet, bool batch_norm)
    : ResNetBlock(batch_norm), imagenet_(imagenet) {
  conv1_ = conv("conv1", in_channels, out_channels, imagenet ? 7 : 3, imagenet ? 2 : 1);
  bn1_ = norm("bn1", out_channels);
}

torch::Tensor ResNetBlock::pointwise(torch::nn::Conv2d& c, const torch::Tensor& x) {
  const auto& o = c->options;
  const bool slow_path = x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
                         x.size(0) < 16 && at::get_num_threads() == 1 &&
                         o.kernel_size()->at(0) == 1 && o.kernel_size()->at(1) == 1 &&
                         o.stride()->at(0) == 1 && o.stride()->at(1) == 1;
  if (!slow_path) return c->forward(x);
  // LibTorch 1.13 sends these to a native kernel that runs one small GEMM per image (measured
  // 10-40x slower than oneDNN at 1-15 images on a 2x2 map). A 1x1 convolution is one matrix
  // product over every pixel of every image, so it is computed as one: [N*H*W, C] x [C, K].
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), k = c->weight.size(0);
  auto rows = x.permute({0, 2, 3, 1}).reshape({n * h * w, x.size(1)});
  auto y = rows.matmul(c->weight.view({k, x.size(1)}).t());
  return y.view({n, h, w, k}).permute({0, 3, 1, 2}).contiguous();
}

torch::Tensor ResNetBlock::spatial(torch::nn::Conv2d& c, const torch::Tensor& x) {
  const auto& o = c->options;
  const bool centre_only = x.size(2) == 1 && x.size(3) == 1 && o.kernel_size()->at(0) == 3 &&
                           o.kernel_size()->at(1) == 3 && o.stride()->at(0) == 1 &&
                           o.stride()->at(1) == 1 && !o.bias();
  if (!centre_only) {
    auto y = single_pixel(c, x);
    return y.defined() ? y : c->forward(x);
  }
  const auto centre = c->weight.select(3, 1).select(2, 1);  // [K, C], a view: grads land in place
  return x.flatten(1).matmul(centre.t()).view({x.size(0), -1, 1, 1});
}

torch::Tensor ResNetBlock::single_pixel(torch::nn::Conv2d& c, const torch::Tensor& x) {
  const auto& o = c->options;
  if (!x.device().is_cpu() || o.bias() || o.groups() != 1 || o.dilation()->at(0) != 1 ||
      o.dilation()->at(1) != 1)
    return {};
  // Every convolution here pads kernel / 2 (conv() and the 1x1 projections' 0).
  const int64_t kh = o.kernel_size()->at(0), kw = o.kernel_size()->at(1);
  const int64_t sh = o.stride()->at(0), sw = o.stride()->at(1);
  const bool one_row = (x.size(2) + 2 * (kh / 2) - kh) / sh + 1 == 1;
  const bool one_column = (x.size(3) + 2 * (kw / 2) - kw) / sw + 1 == 1;
  if (!one_row || !one_column) return {};
  auto field =
      F::unfold(x, F::UnfoldFuncOptions({kh, kw}).padding({kh / 2, kw / 2}).stride({sh, sw}));
  // field: [N, C*kh*kw, 1], each image's receptive field in the weight's (C, kh, kw) order.
  const int64_t out = c->weight.size(0);
  // reshape, not view: a channels-last weight's (C, kh, kw) are not one stride apart.
  return field.flatten(1).matmul(c->weight.reshape({out, -1}).t()).view({x.size(0), out, 1, 1});
}

torch::Tensor Stem::forward(const torch::Tensor& x) {
  auto y = apply(bn1_, conv1_->forward(x)).relu_();
  return imagenet_ ? F::max_pool2d(y, F::MaxPool2dFuncOptions(3).stride(2).padding(1)) : y;
}

namespace {

torch::nn::Sequential projection(torch::nn::Conv2d conv, torch::nn::BatchNorm2d bn) {
  torch::nn::Sequential s;
  s->push_back(conv);
  if (bn) s->push_back(bn);
  return s;
}

}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride, Shortcut shortcut, bool batch_norm)
    : ResNetBlock(batch_norm), stride_(stride) {
  conv1_ = conv("conv1", in, out, 3, stride);
  bn1_ = norm("bn1", out);
  conv2_ = conv("conv2", out, out, 3, 1);
  bn2_ = norm("bn2", out);
  if (stride == 1 && in == out) return;
  if (shortcut == Shortcut::kZeroPad) {
    zero_pad_channels_ = out - in;
  } else {
    // Built unregistered, then registered whole, so names read "downsample.0.weight".
    torch::nn::Conv2d c(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
    torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    downsample_ = register_module(
        "downsample", projection(c, batch_norm ? torch::nn::BatchNorm2d(out) : nullptr));
  }
}

torch::Tensor ResNetBlock::project(torch::nn::Sequential& downsample, const torch::Tensor& x) {
  torch::nn::Conv2d conv(std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(downsample->ptr(0)));
  auto y = single_pixel(conv, x);
  if (!y.defined()) y = pointwise(conv, x);
  if (downsample->size() < 2) return y;
  torch::nn::BatchNorm2d bn(std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(downsample->ptr(1)));
  return apply(bn, y);
}

torch::Tensor BasicBlock::shortcut(const torch::Tensor& x) {
  if (downsample_) return project(downsample_, x);
  if (zero_pad_channels_ == 0 && stride_ == 1) return x;
  // Option A of He et al.: subsample, then pad the new channels with zeros (no parameters).
  using torch::indexing::None;
  using torch::indexing::Slice;
  auto sub = x.index({Slice(), Slice(), Slice(None, None, stride_), Slice(None, None, stride_)});
  const int64_t half = zero_pad_channels_ / 2;
  return F::pad(sub, F::PadFuncOptions({0, 0, 0, 0, half, zero_pad_channels_ - half}));
}

torch::Tensor BasicBlock::forward(const torch::Tensor& x) {
  auto y = apply(bn1_, spatial(conv1_, x)).relu_();
  y = apply(bn2_, spatial(conv2_, y));
  y += shortcut(x);  // in place, as torchvision: BatchNorm's backward does not need its output
  return y.relu_();
}

Bottleneck::Bottleneck(int64_t in, int64_t width, int64_t stride, bool batch_norm)
    : ResNetBlock(batch_norm) {
  const int64_t out = width * kExpansion;
  conv1_ = conv("conv1", in, width, 1, 1);
  bn1_ = norm("bn1", width);
  conv2_ = conv("conv2", width, width, 3, stride);
  bn2_ = norm("bn2", width);
  conv3_ = conv("conv3", width, out, 1, 1);
  bn3_ = norm("bn3", out);
  if (stride == 1 && in == out) return;
  torch::nn::Conv2d c(torch::nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
  torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
  downsample_ = register_module("downsample",
                                projection(c, batch_norm ? torch::nn::BatchNorm2d(out) : nullptr));
}

torch::Tensor Bottleneck::forward(const torch::Tensor& x) {
  auto y = apply(bn1_, pointwise(conv1_, x)).relu_();
  y = apply(bn2_, spatial(conv2_, y)).relu_();
  y = apply(bn3_, pointwise(conv3_, y));
  y += downsample_ ? project(downsample_, x) : x;
  return y.relu_();
}

Head::Head(int64_t in_features, int64_t classes) {
  linear_ = register_module("linear", torch::nn::Linear(in_features, classes));
}

torch::Tensor Head::forward(const torch::Tensor& x) {
  return linear_->forward(x.mean({2, 3}));  // global average pool + flatten in one op
}

}  // namespace parallax
