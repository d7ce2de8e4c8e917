// --strategy tensor: gpt's layers split over 2 and 4 real ranks (Megatron's tensor parallelism)
// equal one device in float64, move the closed form's all-reduces, hold 1/T of the split
// parameters, resume from their one-device checkpoint, and refuse what they cannot split in one
// line before any rank starts.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "run_params.h"
#include "trace_spans.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::max_difference;
using testing::run_ok;
using testing::summary_of;

// L = 2 blocks, b = 8 windows, s = 16 tokens, h = 32 wide, 4 heads, a vocabulary of V = 64.
constexpr int64_t kL = 2, kB = 8, kS = 16, kH = 32, kV = 64;

std::string tp_args(const std::string& out, int64_t vocab = kV) {
  return checked_parallax() +
         " train --model gpt-mini --layers 2 --width 32 --heads 4 --context 16 --dtype fp64 "
         "--dataset synthetic-text --vocab " + std::to_string(vocab) +
         " --synthetic-train 64 --synthetic-test 16 "
         "--batch-size 8 --epochs 1 --lr 0.1 --lr-schedule constant --threads 1 "
         "--timing-warmup 0 --comm-timeout 60 --no-trace --steps 3 --out " + out;
}

// Elements of this rank's parameters at degree t: the split ones 1/t, the replicas whole.
int64_t parameters_at(int64_t t) {
  const int64_t split = kV * kH + kL * (3 * kH * kH + 3 * kH + kH * kH + 4 * kH * kH + 4 * kH +
                                        4 * kH * kH);
  const int64_t replicated = 16 * kH + kL * (4 * kH + kH + kH) + 2 * kH;  // wpe, LNs, row biases
  return split / t + replicated;
}

// tp 2, tp 4, and tp 2 x dp 2 (two replicas of 2 ranks, each its half of the batch).
TEST(TensorParallel, GptAtTp2And4AndTp2xDp2EqualsOneDeviceAndMovesTheClosedFormAllReduces) {
  testing::TempDir dir;
  run_ok(tp_args(dir / "single") + " --strategy single");
  const auto one = summary_of(dir / "single");
  EXPECT_EQ(one["ranks"][0]["param_bytes"].get<int64_t>(), parameters_at(1) * 8);
  for (const auto& [t, world] : {std::pair{2, 2}, std::pair{4, 4}, std::pair{2, 4}}) {
    const int dp = world / t;
    SCOPED_TRACE("tp " + std::to_string(t) + " x dp " + std::to_string(dp));
    const std::string run = dir / ("tp" + std::to_string(t) + "dp" + std::to_string(dp));
    run_ok(tp_args(run) + " --strategy tensor --tp " + std::to_string(t) + " --nproc " +
           std::to_string(world));
    EXPECT_LT(max_difference(dir / "single", run), 1e-10);
    const auto s = summary_of(run);
    EXPECT_NEAR(s["final_loss"].get<double>(), one["final_loss"].get<double>(), 1e-10);
    EXPECT_NEAR(s["language_model"]["validation_loss"].get<double>(),
                one["language_model"]["validation_loss"].get<double>(), 1e-10);
    EXPECT_EQ(s["test_accuracy"], one["test_accuracy"]);
    // Each rank holds 1/t of the split layers and all of the replicated ones; SGD's momentum
    // and the gradients alike.
    for (const auto& r : s["ranks"]) {
      EXPECT_EQ(r["param_bytes"].get<int64_t>(), parameters_at(t) * 8);
      EXPECT_EQ(r["grad_bytes"].get<int64_t>(), parameters_at(t) * 8);
      EXPECT_EQ(r["optimizer_state_bytes"].get<int64_t>(), parameters_at(t) * 8);
    }
    // Forward: the embedding's sum, one per attention and per MLP (b x s x h each), and the
    // cross-entropy's max, sum of exponentials and target logit (b x s each). Backward: one per
    // attention and per MLP, and the LM head's input (b x s x h each).
    const auto& step = s["strategy_details"]["tensor_parallel"]["last_step"];
    EXPECT_EQ(s["strategy_details"]["tensor_parallel"]["degree"], t);
    EXPECT_EQ(s["strategy_details"]["tensor_parallel"]["data_parallel_replicas"], dp);
    const int64_t bsh = kB / dp * kS * kH, bs = kB / dp * kS;  // a replica's batch
    EXPECT_EQ(step["forward_all_reduces"], 1 + 2 * kL + 3);
    EXPECT_EQ(step["forward_elements"], (1 + 2 * kL) * bsh + 3 * bs);
    EXPECT_EQ(step["backward_all_reduces"], 2 * kL + 1);
    EXPECT_EQ(step["backward_elements"], (2 * kL + 1) * bsh);
    EXPECT_EQ(step["bytes"], ((1 + 2 * kL) * bsh + 3 * bs + (2 * kL + 1) * bsh) * 8);
    EXPECT_GT(step["seconds"].get<double>(), 0);
    EXPECT_DOUBLE_EQ(s["comm_s"].get<double>() > 0 ? 1.0 : 0.0, 1.0);
  }
}

// Sequence parallelism: each all-reduce becomes a reduce-scatter and an all-gather of the same
// whole tensor, the replicated parameters' gradients (seen on 1/T of the tokens each) are summed
// over the group once, and the result is one device's.
TEST(TensorParallel, SequenceParallelEqualsOneDeviceWithAReduceScatterAndAnAllGatherPerAllReduce) {
  testing::TempDir dir;
  run_ok(tp_args(dir / "single") + " --strategy single");
  run_ok(tp_args(dir / "tp2") + " --strategy tensor --tp 2");
  run_ok(tp_args(dir / "sp2") + " --strategy tensor --tp 2 --sequence-parallel");
  EXPECT_LT(max_difference(dir / "single", dir / "sp2"), 1e-10);
  const auto one = summary_of(dir / "single"), sp = summary_of(dir / "sp2");
  EXPECT_NEAR(sp["final_loss"].get<double>(), one["final_loss"].get<double>(), 1e-10);
  EXPECT_NEAR(sp["language_model"]["validation_loss"].get<double>(),
              one["language_model"]["validation_loss"].get<double>(), 1e-10);
  const auto& step = sp["strategy_details"]["tensor_parallel"]["last_step"];
  EXPECT_EQ(sp["strategy_details"]["tensor_parallel"]["sequence_parallel"], true);
  const int64_t bsh = kB * kS * kH, bs = kB * kS;
  // Forward: the embedding's and each row-parallel output's reduce-scatter, each column-parallel
  // input's and the head's all-gather, the cross-entropy's three all-reduces of b x s.
  EXPECT_EQ(step["forward_reduce_scatters"], 1 + 2 * kL);
  EXPECT_EQ(step["forward_all_gathers"], 2 * kL + 1);
  EXPECT_EQ(step["forward_all_reduces"], 3);
  EXPECT_EQ(step["forward_elements"], (1 + 2 * kL) * bsh + (2 * kL + 1) * bsh + 3 * bs);
  // Backward: the mirror image, and one all-reduce of the replicated parameters' gradients
  // (the position embedding, 2 LayerNorms and 2 row-parallel biases per block, the final
  // LayerNorm).
  const int64_t replicated = 16 * kH + kL * (4 * kH + 2 * kH) + 2 * kH;
  EXPECT_EQ(step["backward_reduce_scatters"], 2 * kL + 1);
  EXPECT_EQ(step["backward_all_gathers"], 1 + 2 * kL);
  EXPECT_EQ(step["backward_all_reduces"], 1);
  EXPECT_EQ(step["backward_elements"], (2 * kL + 1) * bsh + (1 + 2 * kL) * bsh + replicated);
  // The LayerNorms and the residual stream hold half the tokens: the allocator's activation
  // bytes fall (the column-parallel layers still keep their gathered input for the weight
  // gradient, which Megatron gathers again in backward instead).
  const auto tp = summary_of(dir / "tp2");
  EXPECT_LT(sp["ranks"][0]["memory_measured"]["activations"].get<int64_t>(),
            tp["ranks"][0]["memory_measured"]["activations"].get<int64_t>());
}

// vit: attention's heads and the MLP split as gpt's; the patch embedding and the classifier stay
// whole on every rank, and the loss is the plain cross-entropy of the whole logits.
TEST(TensorParallel, VitAtTp2EqualsOneDevice) {
  testing::TempDir dir;
  const std::string vit = checked_parallax() +
                          " train --model vit-tiny --layers 2 --width 48 --heads 2 --dtype fp64 "
                          "--image-size 16 --synthetic-train 32 --synthetic-test 16 "
                          "--batch-size 16 --lr 0.01 --lr-schedule constant --threads 1 "
                          "--no-augment --timing-warmup 0 --comm-timeout 60 --no-trace --epochs 1 "
                          "--out ";
  run_ok(vit + (dir / "single") + " --strategy single");
  run_ok(vit + (dir / "tp2") + " --strategy tensor --tp 2");
  EXPECT_LT(max_difference(dir / "single", dir / "tp2"), 1e-10);
  const auto one = summary_of(dir / "single"), split = summary_of(dir / "tp2");
  EXPECT_NEAR(split["final_loss"].get<double>(), one["final_loss"].get<double>(), 1e-10);
  EXPECT_EQ(split["test_accuracy"], one["test_accuracy"]);
  // Forward: one all-reduce per attention and per MLP, each of batch x (patches + 1) x width.
  const auto& step = split["strategy_details"]["tensor_parallel"]["last_step"];
  EXPECT_EQ(step["forward_all_reduces"], 2 * 2);
  EXPECT_EQ(step["forward_elements"], 2 * 2 * 16 * (16 + 1) * 48);
}

// A vocabulary that does not split evenly (65 over 4 ranks: 17 columns each, the last 3 of
// rank 3 padding) is padded as Megatron pads it: masked out of the loss, never looked up, left
// out of the checkpoint. The result is one device's.
TEST(TensorParallel, AVocabularyThatDoesNotSplitIsPaddedAndChangesNothing) {
  testing::TempDir dir;
  run_ok(tp_args(dir / "single", 65) + " --strategy single");
  run_ok(tp_args(dir / "tp4", 65) + " --strategy tensor --nproc 4");
  EXPECT_EQ(testing::parameters_of(dir / "tp4")[0].size(0), 65);
  EXPECT_LT(max_difference(dir / "single", dir / "tp4"), 1e-10);
  const auto one = summary_of(dir / "single"), split = summary_of(dir / "tp4");
  EXPECT_NEAR(split["language_model"]["validation_loss"].get<double>(),
              one["language_model"]["validation_loss"].get<double>(), 1e-10);
  EXPECT_EQ(split["test_accuracy"], one["test_accuracy"]);
}

// Every TP all-reduce is a span on its rank's comm lanes, named with its bytes: the row-parallel
// outputs in each forward (3 training steps of 8 windows, and 1 evaluation of the 15 test
// windows), the column-parallel inputs' gradients in each backward.
TEST(TensorParallel, EachAllReduceIsASpanOnTheCommLanesWithItsBytes) {
  testing::TempDir dir;
  std::string args = tp_args(dir / "traced");
  args.replace(args.find(" --no-trace"), 11, "");
  run_ok(args + " --strategy tensor --tp 2");
  for (int rank : {0, 1}) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    int rows = 0, eval_rows = 0, columns = 0, heads = 0;
    const std::string bsh = "(" + std::to_string(kB * kS * kH * 8) + " B)";
    for (const auto& s : testing::spans_of(dir / ("traced/trace/rank" + std::to_string(rank) +
                                                  ".json"))) {
      if (s.lane.rfind("comm", 0) != 0) continue;
      if (s.name == "tp row-parallel output " + bsh) ++rows;
      if (s.name == "tp row-parallel output (" + std::to_string(15 * kS * kH * 8) + " B)")
        ++eval_rows;
      if (s.name == "tp column-parallel input " + bsh) ++columns;
      if (s.name == "tp lm head input " + bsh) ++heads;
      EXPECT_GE(s.end, s.start);
    }
    EXPECT_EQ(rows, 2 * kL * 3);
    EXPECT_EQ(eval_rows, 2 * kL);
    EXPECT_EQ(columns, 2 * kL * 3);
    EXPECT_EQ(heads, 3);
  }
}

TEST(TensorParallel, ResumesFromItsOneDeviceCheckpointAsOneDevice) {
  testing::TempDir dir;
  run_ok(tp_args(dir / "single") + " --strategy single");
  // Killed after step 2 with a checkpoint of step 2 gathered from both ranks' shards.
  const auto r = testing::run_command("PARALLAX_FAULT_KILL=1:2 " + tp_args(dir / "resumed") +
                                      " --strategy tensor --tp 2 --checkpoint-every 1");
  ASSERT_NE(r.exit_code, 0) << r.output;
  ASSERT_NE(r.output.find("rank 1 kills itself after step 2"), std::string::npos) << r.output;
  // The checkpoint is one device's: a single-device model loads it as it is.
  EXPECT_EQ(testing::parameters_of(dir / "resumed")[0].size(0), kV);
  run_ok(checked_parallax() + " train --resume " + (dir / "resumed"));
  EXPECT_LT(max_difference(dir / "single", dir / "resumed"), 1e-10);
}

TEST(TensorParallel, RefusesWhatItCannotSplitInOneLineBeforeAnyRankStarts) {
  testing::TempDir dir;
  struct Case {
    std::string args, says;
  };
  const std::string gpt = std::string(PARALLAX_BINARY) +
                          " train --model gpt-mini --layers 1 --width 32 --context 16 "
                          "--dataset synthetic-text --synthetic-train 32 --synthetic-test 8 "
                          "--batch-size 8 --steps 1 --out " + (dir / "x");
  for (const Case& c : {
           Case{gpt + " --heads 2 --vocab 64 --strategy tensor --nproc 4",
                "--tp 4: 2 attention heads do not split over 4 ranks"},
           Case{gpt + " --heads 2 --vocab 64 --strategy ddp --nproc 2 --tp 2",
                "--tp 2: splits layers over ranks: needs --strategy tensor"},
           Case{gpt + " --heads 2 --vocab 64 --strategy tensor --tp 2 --nproc 3",
                "--tp 2 does not divide the world of 3 ranks"},
           Case{gpt + " --heads 2 --vocab 64 --strategy tensor --tp 2 --dropout 0.1",
                "--dropout"},
           Case{std::string(PARALLAX_BINARY) +
                    " train --model resnet20 --dataset synthetic --strategy tensor --nproc 2 "
                    "--steps 1 --out " + (dir / "y"),
                "--strategy tensor: resnet20 has no layers tensor parallelism splits"},
           Case{std::string(PARALLAX_BINARY) +
                    " train --model gpt-mini --layers 1 --width 32 --context 15 --heads 2 "
                    "--dataset synthetic-text --vocab 64 --strategy tensor --tp 2 "
                    "--sequence-parallel --steps 1 --out " + (dir / "w"),
                "--sequence-parallel: a context of 15 tokens does not split over 2 ranks"},
           Case{gpt + " --heads 2 --vocab 64 --strategy ddp --nproc 2 --sequence-parallel",
                "splits the tokens between tensor-parallel layers: needs --strategy tensor"},
           Case{std::string(PARALLAX_BINARY) +
                    " train --model vit-tiny --dataset synthetic --strategy tensor --nproc 2 "
                    "--steps 1 --out " + (dir / "z"),
                "--tp 2: 3 attention heads do not split over 2 ranks"},
       }) {
    SCOPED_TRACE(c.args);
    const auto r = testing::run_command(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("[rank"), std::string::npos) << "a rank started:\n" << r.output;
  }
}

}  // namespace
}  // namespace parallax
