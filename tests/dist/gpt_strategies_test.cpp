// GPT under every strategy equals one device in float64: data parallel (ddp, zero 1/2/3), the
// model cut (model, gpipe, 1f1b, interleaved, zb-h1 and zb-v pipelines, hybrid), and two of them
// with activation recomputation. Where the token embedding and the LM head it is tied to land on
// different ranks, the head's rank holds a copy and the two gradients are summed each step: the
// result is still one device's, and so is a pipeline resumed from its checkpoint.
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

std::string gpt_args(const std::string& out, int steps = 3) {
  return checked_parallax() +
         " train --model gpt-mini --layers 2 --width 32 --heads 2 --context 16 --dtype fp64 "
         "--dataset synthetic-text --synthetic-train 64 --synthetic-test 16 --batch-size 8 "
         "--epochs 1 --lr 0.1 --lr-schedule constant --threads 1 --timing-warmup 0 "
         "--comm-timeout 60 --bucket-mb 0.05 --no-trace --steps " + std::to_string(steps) + " --out " +
         out;
}

TEST(GptStrategies, EveryStrategyEqualsOneDeviceWithTheTiedHeadAcrossStages) {
  testing::TempDir dir;
  run_ok(gpt_args(dir / "single") + " --strategy single");
  const auto one = summary_of(dir / "single");
  // 65 x 32 tokens + 16 x 32 positions + 2 blocks of 12,704 + the final LayerNorm's 64; the head
  // adds none (tied).
  EXPECT_EQ(one["model"]["parameters"], 65 * 32 + 16 * 32 + 2 * 12'704 + 64);
  const std::string pipe = " --strategy pipeline --nproc 2 --micro-batches 2";
  struct Case {
    std::string name, args;
    bool split_tie;  // embedding and head on different ranks
  };
  const std::vector<Case> cases = {
      {"ddp", " --strategy ddp --nproc 2", false},
      {"zero-1", " --strategy zero --zero-stage 1 --nproc 2", false},
      {"zero-2", " --strategy zero --zero-stage 2 --nproc 2", false},
      {"zero-3", " --strategy zero --zero-stage 3 --nproc 2", false},
      {"model", " --strategy model --nproc 2", true},
      {"gpipe", pipe + " --pipeline-schedule gpipe", true},
      {"1f1b", pipe + " --pipeline-schedule 1f1b", true},
      {"interleaved", pipe + " --pipeline-schedule interleaved-1f1b --balance blocks", true},
      {"zb-h1", pipe + " --pipeline-schedule zb-h1", true},
      {"zb-v", pipe + " --pipeline-schedule zb-v --balance blocks", false},  // both on rank 0
      {"hybrid", " --strategy hybrid --dp 2 --pp 2 --nproc 4 --micro-batches 2", true},
      // Recomputation with the tied copy: its gradient leaves through the recomputed head.
      {"zb-h1-recompute", pipe + " --pipeline-schedule zb-h1 --recompute full", true},
      {"zero-3-selective", " --strategy zero --zero-stage 3 --nproc 2 --recompute selective", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    run_ok(gpt_args(dir / c.name) + c.args);
    EXPECT_LT(max_difference(dir / "single", dir / c.name), 1e-10);
    const auto s = summary_of(dir / c.name);
    EXPECT_NEAR(s["final_loss"].get<double>(), one["final_loss"].get<double>(), 1e-10);
    if (s["strategy_details"].contains("tied_weights_across_ranks"))
      EXPECT_EQ(s["strategy_details"]["tied_weights_across_ranks"].get<bool>(), c.split_tie);
    else
      EXPECT_FALSE(c.split_tie);
  }
}

TEST(GptStrategies, APipelineResumedWithItsTiedCopyEqualsOneDevice) {
  testing::TempDir dir;
  run_ok(gpt_args(dir / "single") + " --strategy single");
  const std::string pipe = " --strategy pipeline --nproc 2 --micro-batches 2";
  // Killed after step 2: resumed from a checkpoint that holds the head's copy only through the
  // embedding it is tied to.
  const auto r = testing::run_command("PARALLAX_FAULT_KILL=1:2 " + gpt_args(dir / "resumed") +
                                      pipe + " --checkpoint-every 1");
  ASSERT_NE(r.exit_code, 0) << r.output;
  ASSERT_NE(r.output.find("rank 1 kills itself after step 2"), std::string::npos) << r.output;
  run_ok(checked_parallax() + " train --resume " + (dir / "resumed"));
  EXPECT_LT(max_difference(dir / "single", dir / "resumed"), 1e-10);
}

}  // namespace
}  // namespace parallax
