// Peak FLOP/s: the GEMM grows until one takes a few milliseconds, then the best of 8 counts.
#include "metrics/peak_flops.h"

#include <torch/torch.h>

#include "metrics/clock.h"

namespace parallax {

PeakFlops measure_peak_flops(const c10::Device& device, c10::ScalarType dtype) {
  const auto opts = torch::TensorOptions().dtype(dtype).device(device);
  // A GEMM two ways: torch::mm (the BLAS LibTorch was built with: OpenBLAS in Debian's) and a 1x1
  // convolution over an n x n "image" (oneDNN on a CPU, cuDNN on a GPU), each n^3
  // multiply-accumulates. The faster is this device's GEMM peak: a model's convolutions run on
  // oneDNN even where its matrix products do not.
  auto seconds = [&](int64_t n, bool conv) {
    // Constant inputs: drawing random numbers here would shift the seeded generator.
    auto a = conv ? torch::full({1, n, n, 1}, 0.5, opts) : torch::full({n, n}, 0.5, opts);
    auto b = conv ? torch::full({n, n, 1, 1}, 0.25, opts) : torch::full({n, n}, 0.25, opts);
    double best = 1e30;
    for (int r = 0; r < 9; ++r) {
      const Stopwatch watch;
      auto c = conv ? torch::conv2d(a, b) : torch::mm(a, b);
      c.sum().item<double>();  // waits for the device; the sum is n^2, the product n^3
      if (r > 0) best = std::min(best, watch.seconds());
    }
    return best;
  };
  PeakFlops peak;
  for (const bool conv : {false, true}) {
    // Large enough that the GEMM, not its launch, is timed: 5 ms, or 4096 (16384 on a GPU).
    const int64_t largest = device.is_cuda() ? 16384 : 4096;
    for (int64_t n = 256;; n *= 2) {
      const double s = seconds(n, conv);
      if (s <= 5e-3 && n < largest) continue;
      const double flops = 2.0 * static_cast<double>(n) * n * n / s;
      if (flops > peak.flops_per_sec) {
        peak.flops_per_sec = flops;
        peak.source = "measured: a " + std::to_string(n) + "^3 GEMM in " +
                      std::string(c10::toString(dtype)) + " as " +
                      (conv ? "a 1x1 convolution" : "torch::mm") + " on this rank's " +
                      (device.is_cuda() ? "GPU" : "threads") + ", best of 8 (the faster of " +
                      "torch::mm and a 1x1 convolution)";
      }
      break;
    }
  }
  return peak;
}

}  // namespace parallax
