// Device resolution and the per-rank thread pool.
#include "dist/device.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "config/user_error.h"
#include "metrics/system_info.h"

namespace parallax {

torch::Device resolve_device(const std::string& name, int local_rank) {
  if (name == "cpu") return torch::kCPU;
  if (!torch::cuda::is_available())
    throw UserError("--device " + name + ": no CUDA device visible to this build of LibTorch " +
                    "(CPU-only, or no GPU); use --device cpu");
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  const int64_t index = name == "cuda" ? local_rank : std::stoll(name.substr(5));
  if (index >= count)
    throw UserError("--device " + name + ": only " + std::to_string(count) + " CUDA devices");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

int configure_threads(int threads) {
  const int n = threads > 0 ? threads : cpu_cores();
  torch::set_num_threads(n);
  try {
    // Inter-op parallelism would compete with the intra-op pool for the same cores.
    at::set_num_interop_threads(1);
  } catch (const c10::Error&) {
    // Already fixed by an earlier call in this process (tests); harmless.
  }
  return n;
}

}  // namespace parallax
