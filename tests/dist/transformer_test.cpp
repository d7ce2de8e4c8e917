// A vision transformer under every strategy the ResNet tests cover: vit-tiny's layout
// (attention, LayerNorm, GELU, a class token) trained by ddp, zero 1 and 3, model, the pipeline
// schedules (zero-bubble ones split each backward into input and weight passes through those
// layers) and hybrid equals one device in float64, and with activation recomputation too.
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

// vit-tiny's layout cut to 2 layers of width 48 (3 heads): its 4 blocks (patch embedding with
// the class token and positions, h.0, h.1, the head) give every pipeline schedule its pieces.
std::string vit_args(const std::string& out) {
  return checked_parallax() +
         " train --model vit-tiny --layers 2 --width 48 --heads 3 --dtype fp64 --image-size 16 "
         "--synthetic-train 32 --synthetic-test 16 --batch-size 16 --lr 0.01 --lr-schedule "
         "constant --threads 1 --no-augment --timing-warmup 0 --comm-timeout 60 --bucket-mb 0.05 "
         "--epochs 1 --out " + out;
}

TEST(Transformers, VitUnderEveryStrategyAndScheduleEqualsOneDevice) {
  testing::TempDir dir;
  run_ok(vit_args(dir / "single") + " --strategy single");
  const auto one = summary_of(dir / "single");
  // The 4x4 patches' projection (3 x 16 inputs to 48, and biases), the class token and 17
  // positions, 2 blocks of 12w^2 + 13w = 28,272 (two LayerNorms, QKV, projection, the 4x MLP),
  // the final LayerNorm and a 10-way head.
  EXPECT_EQ(one["model"]["parameters"], (48 * 48 + 48) + 48 + 17 * 48 + 2 * 28'272 + 96 +
                                            (48 * 10 + 10));
  const std::string pipe = " --strategy pipeline --nproc 2 --micro-batches 2";
  // Every strategy, and the schedules whose mechanisms differ (gpipe and zb-h2 are 1f1b's and
  // zb-h1's with other orders, tested so on gpt and the ResNets).
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ddp", " --strategy ddp --nproc 2"},
      {"zero-1", " --strategy zero --zero-stage 1 --nproc 2"},
      {"zero-3", " --strategy zero --zero-stage 3 --nproc 2"},
      {"model", " --strategy model --nproc 2"},
      {"1f1b", pipe + " --pipeline-schedule 1f1b"},
      {"interleaved", pipe + " --pipeline-schedule interleaved-1f1b --balance blocks"},
      {"zb-h1", pipe + " --pipeline-schedule zb-h1"},
      {"zb-v", pipe + " --pipeline-schedule zb-v --balance blocks"},
      {"hybrid", " --strategy hybrid --dp 2 --pp 2 --nproc 4 --micro-batches 2"},
      // Recomputation: zero-3 gathers a block again before recomputing it; a zero-bubble split
      // recomputes each block once, in I; selective under a pipeline.
      {"zero-3-full", " --strategy zero --zero-stage 3 --nproc 2 --recompute full"},
      {"zb-h1-full", pipe + " --pipeline-schedule zb-h1 --recompute full"},
      {"1f1b-selective", pipe + " --pipeline-schedule 1f1b --recompute selective"},
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
