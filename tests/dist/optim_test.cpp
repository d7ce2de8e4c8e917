// AdamW (decoupled decay on matrices only, nanoGPT's betas) and --grad-clip with real ranks on
// loopback: ddp, zero 1/2/3, pipeline (1f1b, zb-h1) and hybrid equal one device in float64 with a
// clip that clips every step (the whole model's norm: summed over shards, stages and replicas,
// counted once); a ZeRO checkpoint resumes under a pipeline and then on one device as if never
// interrupted, keeping the optimizer's settings.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "run_params.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::max_difference;
using testing::run_ok;
using testing::summary_of;

// Under this clip every step's gradient norm (10.1, 5.9, 2.1 on one device) is clipped.
constexpr double kClip = 0.5;

// The pipeline tests' BatchNorm-free resnet20 (its only vector is fc's bias), 3 steps of a
// 16-image batch in float64 (one epoch of 48 images, or `length`), under AdamW with a decay
// large enough to matter (0.5 x lr 0.002 per step) and nanoGPT's beta2.
std::string optim_args(const std::string& out,
                       const std::string& length = "--synthetic-train 48 --epochs 1") {
  return checked_parallax() + " train --model resnet20 --norm none --dtype fp64 --image-size 16 " +
         length +
         " --synthetic-test 16 --batch-size 16 --lr 0.002 --lr-schedule constant "
         "--threads 1 --no-augment --timing-warmup 0 --comm-timeout 30 --bucket-mb 0.05 "
         "--optimizer adamw --weight-decay 0.5 --beta2 0.99 --out " +
         out;
}

std::string clipped_args(const std::string& out,
                         const std::string& length = "--synthetic-train 48 --epochs 1") {
  std::ostringstream clip;
  clip << " --grad-clip " << kClip;
  return optim_args(out, length) + clip.str();
}

// steps.csv's grad_norm column: the whole gradient's norm of each step, before clipping.
std::vector<double> grad_norms_of(const std::string& run_dir) {
  std::istringstream csv(testing::read_text(run_dir + "/steps.csv"));
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> names;
  for (std::istringstream h(line); std::getline(h, line, ',');) names.push_back(line);
  const size_t column = std::find(names.begin(), names.end(), "grad_norm") - names.begin();
  EXPECT_LT(column, names.size()) << "no grad_norm column in " << run_dir;
  std::vector<double> norms;
  while (std::getline(csv, line)) {
    std::vector<std::string> cells;
    for (std::istringstream row(line); std::getline(row, line, ',');) cells.push_back(line);
    if (column < cells.size()) norms.push_back(std::stod(cells[column]));
  }
  return norms;
}

// Each case against one device: the same parameters and loss, and the same gradient norms in
// every step, each above the clip (so every step was clipped, and by the whole model's norm).
void expect_equal_to_single(const std::string& single, const std::string& run,
                            const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_LT(max_difference(single, run), 1e-10);
  EXPECT_NEAR(summary_of(run)["final_loss"].get<double>(),
              summary_of(single)["final_loss"].get<double>(), 1e-10);
  const auto mine = grad_norms_of(run), one = grad_norms_of(single);
  ASSERT_EQ(mine.size(), 3u);
  ASSERT_EQ(one.size(), 3u);
  for (size_t s = 0; s < mine.size(); ++s) {
    EXPECT_NEAR(mine[s], one[s], 1e-8 * one[s]) << "step " << s;  // steps.csv keeps 9 digits
    EXPECT_GT(mine[s], 1.5 * kClip) << "step " << s;
  }
}

TEST(AdamWClipped, DdpAndZeroOneTwoThreeEqualOneDevice) {
  testing::TempDir dir;
  run_ok(clipped_args(dir / "single") + " --strategy single");
  // The clip changed the trajectory: without it the same run ends elsewhere.
  run_ok(optim_args(dir / "unclipped") + " --strategy single");
  EXPECT_GT(max_difference(dir / "single", dir / "unclipped"), 1e-5);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ddp", " --strategy ddp --nproc 2 --verify-replicas"},
      {"zero-1", " --strategy zero --zero-stage 1 --nproc 2 --verify-replicas"},
      {"zero-2", " --strategy zero --zero-stage 2 --nproc 2 --verify-replicas"},
      {"zero-3", " --strategy zero --zero-stage 3 --nproc 2"},
  };
  for (const auto& [name, args] : cases) {
    run_ok(clipped_args(dir / name) + args);
    expect_equal_to_single(dir / "single", dir / name, name);
  }
}

TEST(AdamWClipped, PipelinesAndHybridEqualOneDevice) {
  testing::TempDir dir;
  run_ok(clipped_args(dir / "single") + " --strategy single");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1f1b", " --strategy pipeline --nproc 2 --micro-batches 2 --pipeline-schedule 1f1b"},
      {"zb-h1", " --strategy pipeline --nproc 2 --micro-batches 2 --pipeline-schedule zb-h1"},
      {"hybrid", " --strategy hybrid --dp 2 --pp 2 --micro-batches 2"},
  };
  for (const auto& [name, args] : cases) {
    run_ok(clipped_args(dir / name) + args);
    expect_equal_to_single(dir / "single", dir / name, name);
  }
}

// The optimizer state of both AdamW groups (ZeRO's consolidated from its shards) and the
// settings: a ZeRO-2 run stopped after one step, resumed by a pipeline for the second and by
// one device for the third, ends where one device in one go does (3 epochs of one step, so that
// each run ends at an epoch's end, where checkpoints are written).
TEST(AdamWClipped, CheckpointsResumeAcrossStrategiesWithTheirSettings) {
  testing::TempDir dir;
  const std::string length = "--synthetic-train 16 --epochs 3";
  run_ok(clipped_args(dir / "single", length) + " --strategy single");
  const std::string run = dir / "resumed";
  run_ok(clipped_args(run, length) + " --strategy zero --zero-stage 2 --nproc 2 --steps 1");
  run_ok(checked_parallax() + " train --resume " + run +
         " --strategy pipeline --nproc 2 --micro-batches 2 --steps 2");
  run_ok(checked_parallax() + " train --resume " + run + " --strategy single --nproc 1 --steps 0");
  expect_equal_to_single(dir / "single", run, "resumed");
  const auto cfg = nlohmann::json::parse(testing::read_text(run + "/config.json"));
  EXPECT_EQ(cfg["optimizer"], "adamw");
  EXPECT_EQ(cfg["beta2"].get<double>(), 0.99);
  EXPECT_EQ(cfg["grad_clip"].get<double>(), kClip);
  EXPECT_EQ(cfg["strategy"], "single");
}

}  // namespace
}  // namespace parallax
