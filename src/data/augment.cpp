// Augmentation: a fused crop + flip + normalise loop over uint8 pixels, writing floats in place.
#include "data/augment.h"

#include <torch/torch.h>

#include "data/rng.h"

namespace parallax {

Normalization channel_stats(const torch::Tensor& images_u8) {
  auto x =
      images_u8.to(torch::kDouble).div_(255.0).transpose(0, 1).reshape({images_u8.size(1), -1});
  auto mean = x.mean(1), std = x.std(1).clamp_min(1e-3);
  Normalization n;
  for (int64_t c = 0; c < x.size(0); ++c) {
    n.mean.push_back(static_cast<float>(mean[c].item<double>()));
    n.std.push_back(static_cast<float>(std[c].item<double>()));
  }
  return n;
}

CropFlip crop_flip_for(uint64_t seed, int64_t epoch, int64_t sample) {
  uint64_t r = mix_seed(seed, 0xA56, static_cast<uint64_t>(epoch), static_cast<uint64_t>(sample));
  CropFlip a;
  a.dy = static_cast<int>(r % (2 * kCropPadding + 1)) - kCropPadding;
  r /= (2 * kCropPadding + 1);
  a.dx = static_cast<int>(r % (2 * kCropPadding + 1)) - kCropPadding;
  r /= (2 * kCropPadding + 1);
  a.flip = (r & 1) != 0;
  return a;
}

void write_sample(const uint8_t* src, int64_t channels, int64_t height, int64_t width,
                  const Normalization& norm, const CropFlip* aug, float* dst) {
  const int dy = aug ? aug->dy : 0, dx = aug ? aug->dx : 0;
  const bool flip = aug && aug->flip;
  for (int64_t c = 0; c < channels; ++c) {
    const float scale = 1.0f / (255.0f * norm.std[c]);
    const float shift = -norm.mean[c] / norm.std[c];  // also the value of a zero (padding) pixel
    const uint8_t* plane = src + c * height * width;
    for (int64_t y = 0; y < height; ++y) {
      float* out = dst + (c * height + y) * width;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= height) {
        std::fill(out, out + width, shift);
        continue;
      }
      const uint8_t* row = plane + sy * width;
      for (int64_t x = 0; x < width; ++x) {
        const int64_t sx = (flip ? width - 1 - x : x) + dx;
        out[x] = (sx >= 0 && sx < width) ? row[sx] * scale + shift : shift;
      }
    }
  }
}

}  // namespace parallax
