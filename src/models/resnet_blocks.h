// The blocks ResNets are built from: stems, basic and bottleneck residual blocks, and the head.
#pragma once
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "models/blocks.h"

namespace parallax {

// Shared by every ResNet block: conv and (optional) BatchNorm construction with torchvision's init.
class ResNetBlock : public Block {
 public:
  void set_norm_override(const NormOverride& f) override { norm_override_ = f; }

 protected:
  explicit ResNetBlock(bool batch_norm) : batch_norm_(batch_norm) {}
  torch::nn::Conv2d conv(const std::string& name, int64_t in, int64_t out, int64_t kernel,
                         int64_t stride);
  torch::nn::BatchNorm2d norm(const std::string& name, int64_t channels);  // nullptr if no BN
  torch::Tensor apply(torch::nn::BatchNorm2d& bn, const torch::Tensor& x) {
    if (!bn) return x;
    return norm_override_ && bn->is_training() ? norm_override_(*bn, x) : bn->forward(x);
  }
  // A 1x1 convolution. With stride 1, on the CPU, one thread and fewer than 16 images, LibTorch
  // 1.13 skips oneDNN for a native kernel that runs one small GEMM per image (10-40x slower on
  // ResNet-50's small maps), which would cripple small pipeline micro-batches; there it is one
  // matrix product over every pixel instead.
  torch::Tensor pointwise(torch::nn::Conv2d& c, const torch::Tensor& x);
  // A 3x3 convolution (stride 1, padding 1): on a 1x1 map only its centre tap meets the image
  // (the other 8 meet padding), so it is a matrix product with that tap, 9x less work and the
  // same values and gradients. ResNet-50's layer4 runs on 1x1 maps at CIFAR's 32x32.
  // Otherwise, when the output is a single pixel on the CPU, see single_pixel().
  torch::Tensor spatial(torch::nn::Conv2d& c, const torch::Tensor& x);
  // A convolution whose output map is 1x1 (ResNet-50's layer4.0 at 32x32: its 3x3 and 1x1
  // stride-2 convs on a 2x2 map), on the CPU: one matrix product of each image's receptive field
  // (unfold) with the flattened weight. oneDNN was measured 1.2-1.8x (3x3) and 2.4-4x (1x1)
  // slower there at 3-120 images. Returns an undefined tensor when the output is not 1x1.
  torch::Tensor single_pixel(torch::nn::Conv2d& c, const torch::Tensor& x);
  // The 1x1 projection shortcut (conv, then BatchNorm unless BN-free) through apply().
  torch::Tensor project(torch::nn::Sequential& downsample, const torch::Tensor& x);
  bool batch_norm_;
  NormOverride norm_override_;
};

// torchvision: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool. CIFAR (He et al.): 3x3/1 conv, BN, ReLU.
class Stem : public ResNetBlock {
 public:
  Stem(int64_t in_channels, int64_t out_channels, bool imagenet, bool batch_norm);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  bool imagenet_;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
};

// How a residual block matches shapes when it changes width or resolution.
enum class Shortcut { kProjection, kZeroPad };  // 1x1 conv + BN (torchvision) | option A (CIFAR)

class BasicBlock : public ResNetBlock {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride, Shortcut shortcut, bool batch_norm);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  torch::Tensor shortcut(const torch::Tensor& x);
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
  int64_t zero_pad_channels_ = 0;
  int64_t stride_;
};

// torchvision's ResNet v1.5 bottleneck: 1x1, 3x3 (carries the stride), 1x1 with 4x expansion.
class Bottleneck : public ResNetBlock {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in, int64_t width, int64_t stride, bool batch_norm);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};

// Global average pool, flatten, fully connected classifier.
class Head : public Block {
 public:
  Head(int64_t in_features, int64_t classes);
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  torch::nn::Linear linear_{nullptr};
};

}  // namespace parallax
