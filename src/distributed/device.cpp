// Device resolution and the per-rank thread pool.
#include "distributed/device.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#if PARALLAX_HAVE_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "config/user_error.h"
#include "distributed/cpu_cores.h"

namespace parallax {

int gpu_for_rank(const std::string& name, int local_rank, int local_world, int gpus, bool share) {
  const std::string n = std::to_string(gpus) + " GPU" + (gpus == 1 ? "" : "s");
  if (name != "cuda") {
    const int index = std::stoi(name.substr(5));
    if (index >= gpus)
      throw UserError("--device " + name + ": this machine has " + n + " (cuda:0 .. cuda:" +
                      std::to_string(gpus - 1) + "); give one of those, or --device cuda");
    if (local_world > 1 && !share)
      throw UserError("--device " + name + ": all " + std::to_string(local_world) +
                      " local ranks would share one GPU; use --device cuda (one GPU per rank) "
                      "or add --share-gpu --backend gloo");
    return index;
  }
  if (local_world > gpus && !share)
    throw UserError("--device cuda: " + std::to_string(local_world) + " local ranks but " + n +
                    "; start at most " + std::to_string(gpus) +
                    " ranks per node, or add "
                    "--share-gpu --backend gloo to put several ranks on one GPU");
  return local_rank % gpus;
}

torch::Device resolve_device(const std::string& name, int local_rank, int local_world, bool share) {
  if (name == "cpu") return torch::kCPU;
  if (!torch::cuda::is_available())
    throw UserError("--device " + name + ": no CUDA device visible to this build of LibTorch " +
                    "(CPU-only, or no GPU); use --device cpu");
  const int gpus = static_cast<int>(torch::cuda::device_count());
  const int index = gpu_for_rank(name, local_rank, local_world, gpus, share);
#if PARALLAX_HAVE_CUDA
  // The current device decides where CUDA contexts, the caching allocator's default and NCCL's
  // communicators go: set it before anything touches CUDA.
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
#endif
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
