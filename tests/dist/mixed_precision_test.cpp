// Mixed precision, channels-last and bf16 gradients on the wire, with real ranks on loopback:
// bf16 learns as fp32 does while keeping fp32 master weights; channels-last changes no number
// (its gradients land in strided bucket views); bf16 on the wire halves the bytes and stays
// within bf16's rounding; fp16's loss scaler skips overflowed steps alike on every rank.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "distributed/torch_compat.h"
#include "parallel/mixed_precision.h"
#include "run_params.h"
#include "trace_spans.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::max_difference;
using testing::relative_norm_difference;
using testing::run_command;
using testing::run_ok;
using testing::summary_of;

// A BatchNorm-free resnet20 on 16x16 data: 3 steps per epoch of a 16-image global batch.
std::string small_run(const std::string& out, const char* dtype, int epochs = 2, int image = 16) {
  return checked_parallax() + " train --model resnet20 --norm none --image-size " +
         std::to_string(image) +
         " --synthetic-train 48 "
         "--synthetic-test 32 --batch-size 16 --lr 0.01 --lr-schedule constant --threads 1 "
         "--timing-warmup 0 --comm-timeout 30 --bucket-mb 0.05 --dtype " +
         std::string(dtype) + " --epochs " + std::to_string(epochs) + " --out " + out;
}

struct StepRow {
  double loss, loss_scale;
  bool skipped;
};

std::vector<StepRow> steps_of(const std::string& dir) {
  std::istringstream csv(testing::read_text(dir + "/steps.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_NE(line.find("loss_scale,skipped"), std::string::npos) << line;
  std::vector<StepRow> rows;
  while (std::getline(csv, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cols.push_back(c);
    rows.push_back({std::stod(cols.at(4)), std::stod(cols.at(10)), cols.at(11) == "1"});
  }
  return rows;
}

int64_t wire_bytes(const std::string& dir) {
  int64_t bytes = 0;
  for (const auto& b : summary_of(dir)["strategy_details"]["buckets"])
    bytes += b["bytes"].get<int64_t>();
  return bytes;
}

TEST(MixedPrecision, Bf16LearnsAsFp32DoesAndKeepsFp32MasterWeights) {
  testing::TempDir dir;
  const std::string args =
      checked_parallax() +
      " train --model resnet20 --image-size 16 --synthetic-train 256 --synthetic-test 128 "
      "--classes 4 --batch-size 32 --epochs 5 --lr-schedule cosine --threads 1 "
      "--timing-warmup 0 --no-checkpoint";
  if (!cpu_has_bf16()) {
    const auto r = run_command(args + " --precision bf16 --out " + (dir / "refused"));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("no bf16 instructions"), std::string::npos) << r.output;
    GTEST_SKIP() << "this CPU has no bf16 instructions: the refusal is what runs here";
  }
  run_ok(args + " --out " + (dir / "fp32"));
  run_ok(args + " --precision bf16 --out " + (dir / "bf16"));
  const auto fp32 = summary_of(dir / "fp32"), bf16 = summary_of(dir / "bf16");
  const auto s32 = steps_of(dir / "fp32"), s16 = steps_of(dir / "bf16");
  ASSERT_EQ(s32.size(), s16.size());
  // Both learn: the last epoch's loss well under the first step's, test accuracy over chance.
  EXPECT_LT(bf16["final_loss"].get<double>(), 0.5 * s16.front().loss);
  EXPECT_LT(fp32["final_loss"].get<double>(), 0.5 * s32.front().loss);
  EXPECT_GT(bf16["test_accuracy"].get<double>(), 0.6);
  EXPECT_EQ(bf16["precision"], "bf16");
  // bf16 really ran: the losses are not fp32's bit for bit, yet close at the start.
  EXPECT_NE(s16[1].loss, s32[1].loss);
  EXPECT_NEAR(s16.front().loss, s32.front().loss, 0.02 * s32.front().loss);
  EXPECT_NEAR(bf16["test_accuracy"].get<double>(), fp32["test_accuracy"].get<double>(), 0.1);
  for (const auto& r : s16) {
    EXPECT_EQ(r.loss_scale, 1);  // bf16 needs no loss scale
    EXPECT_FALSE(r.skipped);
  }
}

// A language model in bf16 across a pipeline whose stages hold the tied embedding and head
// apart: it learns as fp32 does, and each rank's trace has every micro-batch's backward and
// every step.
TEST(MixedPrecision, GptPipelineInBf16LearnsAsFp32AndTracesEveryMicroBatch) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no bf16 instructions";
  testing::TempDir dir;
  const std::string args =
      checked_parallax() +
      " train --model gpt-mini --layers 2 --width 64 --heads 2 --context 32 --dataset "
      "synthetic-text --synthetic-train 512 --synthetic-test 64 --batch-size 16 --optimizer adam "
      "--lr 3e-3 --weight-decay 0 --threads 1 --timing-warmup 0 --no-checkpoint --epochs 1 "
      "--comm-timeout 60 --strategy pipeline --nproc 2 --micro-batches 2 "
      "--pipeline-schedule 1f1b";
  run_ok(args + " --out " + (dir / "fp32"));
  run_ok(args + " --precision bf16 --out " + (dir / "bf16"));
  const auto fp32 = summary_of(dir / "fp32"), bf16 = summary_of(dir / "bf16");
  EXPECT_EQ(bf16["precision"], "bf16");
  EXPECT_TRUE(bf16["strategy_details"]["tied_weights_across_ranks"].get<bool>());
  const auto s32 = steps_of(dir / "fp32"), s16 = steps_of(dir / "bf16");
  const auto steps = static_cast<long>(s16.size());  // 511 windows of 33 tokens, 16 a step
  ASSERT_EQ(steps, 31);
  ASSERT_EQ(s32.size(), s16.size());
  // The first loss is ln(65) = 4.17 in both, to bf16's rounding; bf16 really ran.
  EXPECT_NEAR(s16.front().loss, s32.front().loss, 0.02 * s32.front().loss);
  EXPECT_NE(s16.back().loss, s32.back().loss);
  // Both learn the sequence: the validation loss far under chance's ln(65), and alike.
  const double v32 = fp32["language_model"]["validation_loss"].get<double>();
  const double v16 = bf16["language_model"]["validation_loss"].get<double>();
  EXPECT_LT(v32, 0.75 * std::log(65.0));
  EXPECT_LT(v16, 0.75 * std::log(65.0));
  EXPECT_NEAR(v16, v32, 0.1 * v32);
  for (int rank = 0; rank < 2; ++rank) {
    const auto spans =
        testing::spans_of(dir / ("bf16/trace/rank" + std::to_string(rank) + ".json"));
    auto count = [&](const std::string& lane, const std::string& prefix) {
      return std::count_if(spans.begin(), spans.end(), [&](const testing::Span& sp) {
        return sp.lane == lane && sp.name.rfind(prefix, 0) == 0;
      });
    };
    EXPECT_EQ(count("compute", "B"), steps * 2) << "rank " << rank;  // each micro-batch and step
    EXPECT_EQ(count("step", "step "), steps) << "rank " << rank;
    EXPECT_EQ(count("compute", "optimizer"), steps) << "rank " << rank;
  }
}

TEST(MixedPrecision, ChannelsLastChangesNoNumberOnAnyDataParallelStrategy) {
  testing::TempDir dir;
  const std::string single = dir / "single", single_cl = dir / "single-cl";
  run_ok(small_run(single, "fp64"));
  run_ok(small_run(single_cl, "fp64") + " --channels-last");
  EXPECT_LT(max_difference(single, single_cl), 1e-10);
  // The gradients of channels-last weights are strided views of the buckets: a view laid out
  // NCHW would scramble them, a difference of order lr.
  for (const std::string extra :
       {" --strategy ddp", " --strategy zero --zero-stage 1", " --strategy zero --zero-stage 2",
        " --strategy zero --zero-stage 3"}) {
    const std::string out = dir / ("cl" + std::to_string(std::hash<std::string>{}(extra)));
    run_ok(small_run(out, "fp64") + " --channels-last --nproc 2" + extra);
    EXPECT_LT(max_difference(single_cl, out), 1e-10) << extra;
  }
}

TEST(MixedPrecision, Bf16OnTheWireHalvesTheBytesWithinBf16Rounding) {
  testing::TempDir dir;
  const std::string fp32 = dir / "ddp", wire = dir / "ddp-bf16", zero = dir / "zero2-bf16";
  if (!compat::kGlooReducesBf16) {
    const auto r =
        run_command(small_run(wire, "fp32") + " --strategy ddp --nproc 2 --grad-reduce-dtype bf16");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("reduces no bf16 tensors"), std::string::npos) << r.output;
    GTEST_SKIP() << "Gloo in LibTorch " << compat::torch_version()
                 << " has no bf16 collectives: the refusal is what runs here";
  }
  run_ok(small_run(fp32, "fp32") + " --strategy ddp --nproc 2");
  run_ok(small_run(wire, "fp32") + " --strategy ddp --nproc 2 --grad-reduce-dtype bf16");
  run_ok(small_run(zero, "fp32") +
         " --strategy zero --zero-stage 2 --nproc 2 --grad-reduce-dtype bf16 --verify-replicas");
  EXPECT_EQ(2 * wire_bytes(wire), wire_bytes(fp32));
  // bf16 keeps 8 bits of mantissa: each step's gradient moves by up to 2^-8 of itself.
  const double rel = relative_norm_difference(fp32, wire);
  EXPECT_GT(rel, 0) << "the bf16 wire changed nothing: was it used?";
  EXPECT_LT(rel, 1e-2);
  // On 2 ranks the reduce-scatter adds the same two bf16 numbers as the all-reduce.
  EXPECT_LT(max_difference(wire, zero), 1e-6);
}

TEST(MixedPrecision, Fp16SkipsOverflowedStepsAlikeOnEveryRankAndLearns) {
  testing::TempDir dir;
  if (!compat::kCpuAutocastHalf) {
    const auto r = run_command(small_run(dir / "refused", "fp32") + " --precision fp16");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("autocasts the CPU to bf16 only"), std::string::npos) << r.output;
    GTEST_SKIP() << "LibTorch " << compat::torch_version()
                 << " has no fp16 autocast on the CPU: the refusal is what runs here";
  }
  // 2^18: the loss's gradient times the scale overflows fp16 (65504) at first, so the scaler
  // must skip and halve until the gradients fit. fp16 convolutions are slow on a CPU (0.4 s a
  // step at 16x16 on a Xeon): 8x8 images, a quarter of the work, overflow and recover alike.
  const std::string fp16 = " --precision fp16 --loss-scale 262144";
  for (const std::string extra :
       {" --strategy single", " --strategy ddp --nproc 2 --verify-replicas",
        " --strategy zero --zero-stage 2 --nproc 2 --verify-replicas",
        " --strategy pipeline --nproc 2 --micro-batches 2"}) {
    const std::string out = dir / ("fp16-" + std::to_string(std::hash<std::string>{}(extra)));
    run_ok(small_run(out, "fp32", 4, 8) + fp16 + extra);
    const auto rows = steps_of(out);
    ASSERT_EQ(rows.size(), 12u) << extra;
    EXPECT_TRUE(rows.front().skipped) << extra;
    EXPECT_EQ(rows.front().loss_scale, 262144) << extra;
    int skipped = 0;
    for (size_t i = 1; i < rows.size(); ++i) {
      // Halved after each skip, else unchanged (growth needs 2000 good steps).
      EXPECT_EQ(rows[i].loss_scale, rows[i - 1].loss_scale * (rows[i - 1].skipped ? 0.5 : 1))
          << extra << " step " << i;
      skipped += rows[i].skipped;
    }
    EXPECT_FALSE(rows.back().skipped) << extra;
    EXPECT_LT(skipped, 8) << extra;
    EXPECT_LT(rows.back().loss, rows.front().loss) << extra;
  }
}

TEST(MixedPrecision, Fp16ResumeGoesOnFromTheLossScaleReached) {
  testing::TempDir dir;
  if (!compat::kCpuAutocastHalf) GTEST_SKIP() << "no fp16 autocast on the CPU in this LibTorch";
  const std::string fp16 = " --precision fp16 --loss-scale 262144 --no-augment";
  run_ok(small_run(dir / "whole", "fp32", 4, 8) + fp16);  // 8x8: as above
  // Stopped after 2 epochs (6 steps, the scale backed off meanwhile), then resumed to 4.
  run_ok(small_run(dir / "part", "fp32", 4, 8) + fp16 + " --steps 6");
  run_ok(checked_parallax() + " train --resume " + (dir / "part") + " --steps 0");
  const auto whole = steps_of(dir / "whole"), part = steps_of(dir / "part");
  ASSERT_EQ(whole.size(), part.size());
  for (size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(part[i].loss_scale, whole[i].loss_scale) << "step " << i;
    EXPECT_EQ(part[i].skipped, whole[i].skipped) << "step " << i;
  }
  EXPECT_LT(max_difference(dir / "whole", dir / "part"), 1e-6);
}

TEST(MixedPrecision, SettingsThatCannotApplyAreOneClearLine) {
  testing::TempDir dir;
  const std::string base = small_run(dir / "bad", "fp32");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --grad-reduce-dtype bf16", "--grad-reduce-dtype bf16: applies to gradient all-reduce"},
      {" --loss-scale 1024", "--loss-scale 1024: applies to --precision fp16"},
      {" --precision fp8", "--precision"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_command(base + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  }
  // Found by the rank, which knows the device.
  const auto r = run_command(small_run(dir / "fp64", "fp64") + " --precision bf16");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--precision bf16: mixed precision keeps fp32 master"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace parallax
