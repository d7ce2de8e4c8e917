// The CUDA path's pieces on one GPU: the loader's pinned staging, CUDA-event timing, the caching
// allocator's memory figures.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cuda_util.h"
#if PARALLAX_HAVE_CUDA
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#endif
#include "data/loader.h"
#include "data/synthetic.h"
#include "metrics/heap.h"
#include "metrics/stream_clock.h"

namespace parallax {
namespace {

// Keeps the GPU busy for a while (a spinning kernel, about 0.1 s on any GPU), so that copies
// queued behind it run long after the host has moved on: the situation in which a reused pinned
// buffer would be overwritten too early.
void occupy(const torch::Device& d) {
#if PARALLAX_HAVE_CUDA
  c10::cuda::CUDAGuard guard(d);
  at::cuda::sleep(static_cast<int64_t>(2e8));
#endif
}

TEST(CudaLoader, BatchesQueuedWithoutASyncEqualTheCpuLoaders) {
  PARALLAX_REQUIRE_GPUS(1);
  const torch::Device gpu(torch::kCUDA, 0);
  SyntheticSpec spec;
  const Dataset data = make_synthetic(spec);
  const Normalization norm = channel_stats(data.train.images);
  LoaderOptions opts{64, false, false, 0, 0, 1};
  Loader on_cpu(data.test, norm, opts, torch::kCPU), on_gpu(data.test, norm, opts, gpu);
  occupy(gpu);
  // Evaluation's pattern: batch after batch, consumed on the device, no host sync in between.
  std::vector<torch::Tensor> got;
  for (int64_t i = 0; i < on_gpu.batches(); ++i) got.push_back(on_gpu.batch(i).images.clone());
  for (int64_t i = 0; i < on_cpu.batches(); ++i)
    EXPECT_TRUE(torch::equal(got[i].cpu(), on_cpu.batch(i).images)) << "batch " << i;
}

TEST(CudaStreamClock, EventsTimeTheKernelsNotTheirLaunch) {
  PARALLAX_REQUIRE_GPUS(1);
  const torch::Device gpu(torch::kCUDA, 0);
  StreamClock clock(gpu);
  ASSERT_TRUE(clock.on_device());
  auto x = torch::randn({4096, 4096}, torch::TensorOptions().device(gpu));
  // cuBLAS's handle and kernels load on the first product: not between the marks.
  x = torch::mm(x, x).tanh_();
  torch::cuda::synchronize();
  clock.begin();
  const int a = clock.mark();
  for (int i = 0; i < 20; ++i) x = torch::mm(x, x).tanh_();
  const int b = clock.mark();
  const auto host_start = std::chrono::steady_clock::now();
  clock.resolve();  // waits for the kernels: the host only queued them
  const double host_wait =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - host_start).count();
  const double kernels = clock.at(b) - clock.at(a);
  EXPECT_GT(kernels, 0.0);
  // 20 products of 4096^2 are ~2.7 TFLOP: milliseconds on any GPU; the host was not timing them.
  EXPECT_GT(kernels, 0.5 * host_wait);
}

TEST(CudaMemory, FiguresComeFromTheCachingAllocator) {
  PARALLAX_REQUIRE_GPUS(1);
  const torch::Device gpu(torch::kCUDA, 0);
  const DeviceMemory before = device_memory(gpu);
  auto t = torch::empty({64, 1024, 1024}, torch::TensorOptions().device(gpu));  // 256 MiB
  const DeviceMemory after = device_memory(gpu);
  EXPECT_GE(after.allocated - before.allocated, 256ll << 20);
  EXPECT_GE(after.reserved, after.allocated);
  EXPECT_GE(after.peak_allocated, after.allocated);
  EXPECT_EQ(allocated_bytes(gpu), after.allocated);
}

}  // namespace
}  // namespace parallax
