// What the planner and the memory figures measure on a GPU: a block's backward timed where its
// kernels ran (not where the host queued them), and a probed step's memory peak its own.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cuda_util.h"
#if PARALLAX_HAVE_CUDA
#include <ATen/cuda/Sleep.h>
#endif
#include "metrics/heap.h"
#include "metrics/memory_probe.h"
#include "models/blocks.h"
#include "plan/block_profiler.h"

namespace parallax {
namespace {

#if PARALLAX_HAVE_CUDA
constexpr int64_t kStallCycles = 400'000'000;  // about 0.2 s of one spinning kernel on any GPU

// Identity forward; its backward first keeps the GPU spinning (queued: the host goes on at once).
struct StallBackward : torch::autograd::Function<StallBackward> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& x) {
    return x.clone();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    at::cuda::sleep(kStallCycles);
    return {grads[0]};
  }
};

struct LinearBlock : Block {
  LinearBlock(int64_t in, int64_t out, bool stall) : stall(stall) {
    linear = register_module("linear", torch::nn::Linear(in, out));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = torch::relu(linear->forward(x));
    return stall ? StallBackward::apply(y) : y;
  }
  torch::nn::Linear linear{nullptr};
  bool stall;
};
#endif

TEST(CudaBlockProfiler, AStalledBlocksBackwardIsTimedInThatBlock) {
  PARALLAX_REQUIRE_GPUS(1);
#if PARALLAX_HAVE_CUDA
  const torch::Device gpu(torch::kCUDA, 0);
  ModelBlocks model;
  constexpr size_t kStalled = 2;
  for (size_t b = 0; b < 4; ++b)
    model.add("b" + std::to_string(b),
              std::make_shared<LinearBlock>(256, b == 3 ? 10 : 256, b == kStalled));
  model.to(gpu);
  ComputeProbe probe;
  probe.model = &model;
  probe.sample = {256};
  probe.device = gpu;
  probe.repeats = 2;
  Profile profile;
  profile_blocks(probe, {64}, profile, nullptr);
  const auto& times = profile.blocks_by_rows.at(64);
  ASSERT_EQ(times.size(), 4u);
  // The stall (0.2 s or so) against four 256-wide linear layers (microseconds): with the host's
  // clock at the hooks, the whole backward landed in block 0, where the final sync waits.
  double others = 0;
  for (size_t b = 0; b < times.size(); ++b)
    if (b != kStalled) others += times[b].backward;
  EXPECT_GT(times[kStalled].backward, 0.05);
  EXPECT_GT(times[kStalled].backward, 10 * others)
      << "block 0: " << times[0].backward << " s, block 2: " << times[kStalled].backward << " s";
#endif
}

TEST(CudaMemoryProbe, AProbedStepsPeakLeavesOutWhatCameBeforeIt) {
  PARALLAX_REQUIRE_GPUS(1);
  const torch::Device gpu(torch::kCUDA, 0);
  const auto bytes = torch::TensorOptions().dtype(torch::kUInt8).device(gpu);
  constexpr int64_t kMiB = 1 << 20;
  MemoryProbe probe(gpu);
  // The first CUDA call of this process: the allocator's figures must not need a tensor first.
  probe.model_built(allocated_bytes(gpu), 0);
  {
    // Construction's transients or a resume's checkpoint load: gone before the first step.
    auto transient = torch::empty({512 * kMiB}, bytes);
  }
  for (int s = 0; s < MemoryProbe::kProbedSteps; ++s) {
    probe.step_begin();
    auto step = torch::ones({16 * kMiB}, bytes);
    probe.backward_end();
    probe.optimizer_end(0);
    probe.step_end();
  }
  const MeasuredMemory m = probe.result();
  EXPECT_GE(m.peak, 16 * kMiB);
  EXPECT_LT(m.peak, 64 * kMiB) << "the 512 MiB freed before the steps counted as theirs";
  // The process's own peak still holds the transient.
  EXPECT_GE(device_memory(gpu).peak_allocated, 512 * kMiB);
}

}  // namespace
}  // namespace parallax
