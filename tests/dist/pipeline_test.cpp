// Model, pipeline and hybrid parallelism with real ranks on loopback, against one device with the
// whole batch (BatchNorm-free resnet20, 3 steps): naive model parallel, GPipe and 1F1B with
// several micro-batch counts and an uneven split size, hybrid 2 x 2; 1F1B holds fewer
// activations than GPipe; checkpoints are consolidated; bad stage settings are one clear line.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "run_params.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::max_difference;
using testing::run_command;

// 48 training images, global batch 16: 3 steps per epoch, in float64 (micro-batches sum the
// gradients in another order than one device: float64 keeps that rounding near 1e-16, so 1e-10
// holds on any CPU). No augmentation: zero-padded crops put units at ReLU's kink, where rounding
// differences of another summation order flip them (the same finding as the sync-BN test).
std::string pipeline_args(const std::string& out, int epochs = 1, int batch = 16) {
  return checked_parallax() +
         " train --model resnet20 --norm none --dtype fp64 --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --lr 0.01 --lr-schedule constant --threads 1 --no-augment "
         "--timing-warmup 0 --comm-timeout 30 --batch-size " +
         std::to_string(batch) + " --epochs " + std::to_string(epochs) + " --out " + out;
}

using testing::run_ok;
using testing::summary_of;

TEST(Pipeline, ModelPipelineAndHybridEqualOneDevice) {
  testing::TempDir dir;
  const std::string single = dir / "single";
  run_ok(pipeline_args(single) + " --strategy single");
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"model", " --strategy model --nproc 2 --split-at layer2.0"},
      {"gpipe-m2", " --strategy pipeline --nproc 2 --pipeline-schedule gpipe --micro-batches 2"},
      {"gpipe-m4", " --strategy pipeline --nproc 2 --pipeline-schedule gpipe --micro-batches 4"},
      {"1f1b-m4",
       " --strategy pipeline --nproc 2 --pipeline-schedule 1f1b --micro-batches 4 "
       "--balance params"},
      {"1f1b-s3", " --strategy pipeline --nproc 2 --pipeline-schedule 1f1b --split-size 3"},
      {"1f1b-p4",
       " --strategy pipeline --nproc 4 --pipeline-schedule 1f1b --micro-batches 8 "
       "--balance blocks"},
      {"hybrid", " --strategy hybrid --dp 2 --pp 2 --micro-batches 2 --bucket-mb 0.05"},
  };
  for (const auto& [name, args] : runs) {
    const std::string out = dir / name;
    run_ok(pipeline_args(out) + args);
    EXPECT_LT(max_difference(single, out), 1e-10) << name;
    const auto s = summary_of(out);
    // Losses recorded on the last stage reach rank 0's tables: the same as one device's.
    EXPECT_NEAR(s["final_loss"].get<double>(), summary_of(single)["final_loss"].get<double>(),
                1e-10)
        << name;
  }
  const auto hybrid = summary_of(dir / "hybrid");
  EXPECT_EQ(hybrid["world_size"], 4);
  EXPECT_EQ(hybrid["strategy_details"]["replicas"], 2);
  EXPECT_EQ(summary_of(dir / "1f1b-s3")["strategy_details"]["micro_batches"], 6);  // 5 x 3 + 1
}

TEST(Pipeline, OneFOneBHoldsFewerActivationsThanGpipe) {
  testing::TempDir dir;
  auto stage0 = [&](const std::string& schedule) {
    const std::string out = dir / schedule;
    run_ok(pipeline_args(out, 1, 48) +
           " --strategy pipeline --nproc 2 --micro-batches 8 "
           "--split-at layer3.0 --pipeline-schedule " +
           schedule);
    const auto d = summary_of(out)["strategy_details"];
    EXPECT_EQ(d["split_at"][0], "layer3.0");
    EXPECT_NEAR(d["bubble_fraction_theory"].get<double>(), 1.0 / 9.0, 1e-12);
    for (const auto& r : d["ranks"]) {
      EXPECT_GE(r["bubble_fraction"].get<double>(), 0.0);
      EXPECT_LT(r["bubble_fraction"].get<double>(), 1.0);
    }
    // Each rank's trace shows its schedule: a span per forward and backward of each micro-batch
    // (forwards also in evaluation, backwards only in the one training step).
    const auto trace = nlohmann::json::parse(testing::read_text(out + "/trace/rank0.json"));
    int backwards = 0, forwards = 0;
    for (const auto& e : trace["traceEvents"]) {
      if (e["ph"] == "X" && e["name"] == "B7") ++backwards;
      if (e["ph"] == "X" && e["name"] == "F7") ++forwards;
    }
    EXPECT_EQ(backwards, 1);
    EXPECT_EQ(forwards, 2);
    return d["ranks"][0];
  };
  const auto gpipe = stage0("gpipe");
  const auto one_f = stage0("1f1b");
  EXPECT_EQ(gpipe["held_micro_batches"], 8);
  EXPECT_EQ(one_f["held_micro_batches"], 2);
  EXPECT_LT(one_f["peak_activation_bytes"].get<double>(),
            0.6 * gpipe["peak_activation_bytes"].get<double>());
}

TEST(Pipeline, ConsolidatedCheckpointResumesOnOneDevice) {
  testing::TempDir dir;
  const std::string whole = dir / "whole", first = dir / "first";
  run_ok(pipeline_args(whole, 2) + " --strategy single");
  run_ok(pipeline_args(first, 1) + " --strategy pipeline --nproc 2 --micro-batches 4");
  run_ok(checked_parallax() + " train --resume " + first +
         " --epochs 2 --strategy single --nproc 1");
  EXPECT_LT(max_difference(whole, first), 1e-10);
}

TEST(Pipeline, BadStageSettingsAreOneClearLine) {
  testing::TempDir dir;
  const std::string base = pipeline_args(dir / "bad");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --strategy pipeline --nproc 12", "only 11 blocks"},
      {" --strategy model --nproc 2 --split-at layer9.0", "--split-at layer9.0: no such block"},
      {" --strategy pipeline --nproc 2 --micro-batches 17", "--micro-batches 17"},
      {" --strategy hybrid --dp 2 --pp 2 --nproc 3", "--dp 2 x --pp 2 = 4 ranks"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_command(base + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  }
  // Found inside the ranks (it needs the feature-map sizes): every rank says it, exit code 2.
  const auto r = run_command(checked_parallax() +
                             " train --model resnet50 --image-size 8 --synthetic-train 16 "
                             "--batch-size 4 --strategy pipeline --nproc 2 --split-size 1 --out " +
                             (dir / "bn"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("as a 1x1 map"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace parallax
