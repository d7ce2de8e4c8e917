// A transformer under the strategies the ResNet tests cover: vit-tiny (attention, LayerNorm,
// GELU, a class token) trained by ddp, zero-3 and a zero-bubble pipeline (its backward split
// into input and weight passes through those layers) equals one device in float64, with and
// without activation recomputation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "run_params.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::max_difference;
using testing::run_ok;
using testing::summary_of;

std::string vit_args(const std::string& out) {
  return checked_parallax() +
         " train --model vit-tiny --dtype fp64 --image-size 16 --synthetic-train 32 "
         "--synthetic-test 16 --batch-size 16 --lr 0.01 --lr-schedule constant --threads 1 "
         "--no-augment --timing-warmup 0 --comm-timeout 60 --bucket-mb 1 --epochs 1 --out " + out;
}

TEST(Transformers, VitTinyUnderDdpZeroThreeAndAZeroBubblePipelineEqualsOneDevice) {
  testing::TempDir dir;
  run_ok(vit_args(dir / "single") + " --strategy single");
  const auto one = summary_of(dir / "single");
  EXPECT_EQ(one["model"]["parameters"], 5'353'546);  // 16x16: 16 patches, 17 positions
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ddp", " --strategy ddp --nproc 2"},
      {"zero-3", " --strategy zero --zero-stage 3 --nproc 2"},
      {"zb-h1", " --strategy pipeline --nproc 2 --micro-batches 2 --pipeline-schedule zb-h1"},
  };
  for (const auto& [name, args] : cases) {
    SCOPED_TRACE(name);
    run_ok(vit_args(dir / name) + args);
    EXPECT_LT(max_difference(dir / "single", dir / name), 1e-10);
    EXPECT_NEAR(summary_of(dir / name)["final_loss"].get<double>(), one["final_loss"].get<double>(),
                1e-10);
  }
}

// --recompute full under every kind of strategy: ddp's and zero-3's hooks (zero-3 gathers a
// block's parameters again before its backward recomputes it) and a zero-bubble split of each
// recomputed block's backward into I and W; selective under the pipeline. Against one device
// without recomputation.
TEST(Transformers, RecomputationUnderZeroThreeAndAZeroBubblePipelineEqualsOneDevice) {
  testing::TempDir dir;
  run_ok(vit_args(dir / "single") + " --strategy single");
  const auto one = summary_of(dir / "single");
  const std::vector<std::pair<std::string, std::string>> cases = {
      // ddp and selective recomputation are tested on gpt (tests/dist/gpt_strategies_test.cpp).
      {"zero-3", " --strategy zero --zero-stage 3 --nproc 2 --recompute full"},
      {"zb-h1",
       " --strategy pipeline --nproc 2 --micro-batches 2 --pipeline-schedule zb-h1 "
       "--recompute full"},
  };
  for (const auto& [name, args] : cases) {
    SCOPED_TRACE(name);
    run_ok(vit_args(dir / name) + args);
    EXPECT_LT(max_difference(dir / "single", dir / name), 1e-10);
    EXPECT_NEAR(summary_of(dir / name)["final_loss"].get<double>(), one["final_loss"].get<double>(),
                1e-10);
  }
}

}  // namespace
}  // namespace parallax
