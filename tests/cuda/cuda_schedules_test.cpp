// Today's pipeline schedules on the GPU: the split backward (I then W) on CUDA tensors equals the
// full backward; interleaved 1F1B, ZB-H1 and ZB-V with two ranks sharing one GPU over Gloo (host
// staging) and, where there are two GPUs, over NCCL (receives one action ahead, the V's and the
// ring's pairs set up in order) train equal to one device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "../dist/run_params.h"
#include "cuda_util.h"
#include "models/blocks.h"
#include "models/resnet.h"
#include "parallel/split_backward.h"
#include "test_paths.h"

namespace parallax {
namespace {

using testing::max_difference;
using testing::run_ok;

std::string cuda_schedules_args(const std::string& out) {
  return std::string(PARALLAX_BINARY) +
         " train --model resnet20 --norm none --dtype fp64 --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --batch-size 16 --epochs 1 --lr 0.01 --lr-schedule constant "
         "--threads 1 --timing-warmup 0 --comm-timeout 60 --no-augment --balance blocks "
         "--micro-batches 4 --device cuda --out " +
         out;
}

TEST(CudaSchedules, SplitBackwardOnTheGpuEqualsTheFullBackward) {
  PARALLAX_REQUIRE_GPUS(1);
  auto model = make_resnet({"resnet20", 3, 10, /*batch_norm=*/true});
  model->to(torch::Device(torch::kCUDA), torch::kDouble);
  model->train();
  torch::manual_seed(3);
  auto images = torch::randn({4, 3, 8, 8}, torch::dtype(torch::kDouble).device(torch::kCUDA));
  auto grad_out = torch::Tensor();
  std::vector<torch::Tensor> full, split;
  for (const bool is_split : {false, true}) {
    model->zero_grad();
    auto x = images.detach().requires_grad_(true);
    auto y = model->forward_range(x, 0, 5);
    if (!grad_out.defined()) grad_out = torch::randn_like(y);
    if (is_split) {
      auto r = backward_input(y, grad_out, x);
      backward_weight(*r.weights);
      split.push_back(r.input_grad);
    } else {
      y.backward(grad_out);
      full.push_back(x.grad());
    }
    for (const auto& p : model->parameters())  // blocks past the piece have none
      (is_split ? split : full).push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  }
  ASSERT_EQ(full.size(), split.size());
  for (size_t i = 0; i < full.size(); ++i) {
    ASSERT_EQ(full[i].defined(), split[i].defined()) << i;
    if (full[i].defined()) {  // cuDNN's kernels may sum in another order
      EXPECT_LT((full[i] - split[i]).abs().max().item<double>(), 1e-10) << i;
    }
  }
}

TEST(CudaSchedules, SchedulesOnASharedGpuAndOverNcclEqualOneDevice) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  run_ok(cuda_schedules_args(dir / "single") + " --strategy single");
  std::vector<std::string> transports{" --nproc 2 --share-gpu --backend gloo"};
  if (cuda_devices() >= 2) transports.push_back(" --nproc 2 --backend nccl");
  for (size_t t = 0; t < transports.size(); ++t)
    for (const std::string schedule : {"interleaved-1f1b", "zb-h1", "zb-v"}) {
      const std::string out = dir / (schedule + std::to_string(t));
      run_ok(cuda_schedules_args(out) + transports[t] +
             " --strategy pipeline --pipeline-schedule " + schedule);
      EXPECT_LT(max_difference(dir / "single", out), 1e-10) << schedule << transports[t];
    }
}

}  // namespace
}  // namespace parallax
