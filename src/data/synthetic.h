// Synthetic datasets generated from a seed: `random` noise (for timing) and `learnable` patterns.
#pragma once
#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace parallax {

struct SyntheticSpec {
  std::string kind = "learnable";  // learnable | random
  int64_t train = 2048, test = 512;
  int64_t image_size = 32, channels = 3, classes = 10;
  uint64_t seed = 0;
};

// The same spec always gives the same bytes. `learnable`: each class is a grating of its own
// orientation and frequency over a class colour, under random phase and pixel noise, so a network
// must learn features (not one pixel) and accuracy rises well above chance within a few dozen
// steps.
Dataset make_synthetic(const SyntheticSpec& spec);

}  // namespace parallax
