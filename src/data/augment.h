// Augmentation and normalisation of one image: random crop (4-pixel zero padding) and flip.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace parallax {

// Per-channel affine map from a uint8 pixel v to (v/255 - mean) / std.
struct Normalization {
  std::vector<float> mean, std;  // per channel, in [0, 1] units
};
Normalization channel_stats(const torch::Tensor& images_u8);  // over a [N, C, H, W] split

constexpr int kCropPadding = 4;

struct CropFlip {
  int dy = 0, dx = 0;  // crop offset in the padded image, minus the padding: [-4, 4]
  bool flip = false;
};

// Pure: the same (seed, epoch, sample) always gives the same crop and flip, whichever rank or
// batch the sample lands in, so runs are reproducible and resumable at any epoch.
CropFlip crop_flip_for(uint64_t seed, int64_t epoch, int64_t sample);

// Writes one normalised image [C, H, W] to dst; aug == nullptr: no augmentation (evaluation).
void write_sample(const uint8_t* src, int64_t channels, int64_t height, int64_t width,
                  const Normalization& norm, const CropFlip* aug, float* dst);

}  // namespace parallax
