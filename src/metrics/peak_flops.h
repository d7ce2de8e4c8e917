// The device's peak FLOP/s for a run's precision, measured: the best of several square GEMMs in
// that dtype on this rank's device and threads (as bench/flops.py's GEMM rows), so that MFU is
// against what this rank's share of the machine can reach, not a datasheet.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace parallax {

struct PeakFlops {
  double flops_per_sec = 0;
  std::string source;  // "measured: 1024^3 GEMM in float, best of 8"
};

PeakFlops measure_peak_flops(const c10::Device& device, c10::ScalarType dtype);

}  // namespace parallax
