// Synthetic data: generated in vectorised tensor ops from a private generator (no global RNG
// state).
#include "data/synthetic.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

namespace parallax {
namespace {

Split make_random(int64_t n, const SyntheticSpec& s, at::Generator& gen) {
  Split split;
  split.images =
      torch::randint(0, 256, {n, s.channels, s.image_size, s.image_size}, gen, torch::kUInt8);
  split.labels = torch::randint(0, s.classes, {n}, gen, torch::kLong);
  return split;
}

struct ClassPatterns {
  torch::Tensor angle, frequency, colour;  // [K], [K] (radians per pixel), [K, C]
};

ClassPatterns make_patterns(const SyntheticSpec& s, at::Generator& gen) {
  const double pi = std::acos(-1.0);
  ClassPatterns p;
  // Spread orientations evenly (then jitter) so that no two classes are nearly the same grating.
  auto order = torch::randperm(s.classes, gen, torch::kLong).to(torch::kFloat);
  p.angle = (order + torch::rand({s.classes}, gen) * 0.5) * (pi / s.classes);
  const double cycles_lo = 1.5, cycles_hi = std::max(2.0, s.image_size / 6.0);
  p.frequency = (cycles_lo + torch::rand({s.classes}, gen) * (cycles_hi - cycles_lo)) *
                (2 * pi / s.image_size);
  p.colour = (torch::rand({s.classes, s.channels}, gen) - 0.5) * 60.0;
  return p;
}

Split make_learnable(int64_t n, const SyntheticSpec& s, const ClassPatterns& p,
                     at::Generator& gen) {
  const double pi = std::acos(-1.0);
  const int64_t size = s.image_size;
  auto labels = torch::randint(0, s.classes, {n}, gen, torch::kLong);
  auto coords = torch::arange(size, torch::kFloat);
  auto yy = coords.view({1, size, 1});
  auto xx = coords.view({1, 1, size});
  auto angle = p.angle.index_select(0, labels).view({n, 1, 1});
  auto freq = p.frequency.index_select(0, labels).view({n, 1, 1});
  auto phase = (torch::rand({n}, gen) * (2 * pi)).view({n, 1, 1});
  auto grating = torch::sin(freq * (torch::cos(angle) * xx + torch::sin(angle) * yy) + phase);
  auto colour = p.colour.index_select(0, labels).view({n, s.channels, 1, 1});
  auto noise = torch::randn({n, s.channels, size, size}, gen) * 35.0;
  auto images = 128.0 + colour + 45.0 * grating.unsqueeze(1) + noise;
  Split split;
  split.images = images.round_().clamp_(0, 255).to(torch::kUInt8);
  split.labels = labels;
  return split;
}

}  // namespace

Dataset make_synthetic(const SyntheticSpec& s) {
  at::Generator gen = at::detail::createCPUGenerator(s.seed * 0x9E3779B97F4A7C15ULL + 17);
  Dataset d;
  d.name = "synthetic";
  d.classes = s.classes;
  d.source = "synthetic " + s.kind + " seed=" + std::to_string(s.seed) + " " +
             std::to_string(s.channels) + "x" + std::to_string(s.image_size) + "x" +
             std::to_string(s.image_size);
  if (s.kind == "random") {
    d.train = make_random(s.train, s, gen);
    d.test = make_random(s.test, s, gen);
  } else {
    const ClassPatterns patterns = make_patterns(s, gen);
    d.train = make_learnable(s.train, s, patterns, gen);
    d.test = make_learnable(s.test, s, patterns, gen);
  }
  return d;
}

}  // namespace parallax
