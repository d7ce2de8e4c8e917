// Nothing lost: a run killed at any instant (either checkpoint format) and resumed ends with every
// row, its checkpoint and the database in agreement; resuming a finished run changes no byte; a
// full disk is one line and keeps the last checkpoint; a diverging run stops and says so.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include "metrics/results_db.h"
#include "process_util.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

namespace fs = std::filesystem;
using testing::read_text;

// resnet20 on 384 16x16 images, batch 32: 12 steps an epoch, about a second of training for 3
// epochs after half a second of start-up.
std::string faults_args(const std::string& out, int epochs = 3, const std::string& lr = "0.05") {
  return std::string(PARALLAX_BINARY) +
         " train --model resnet20 --image-size 16 --synthetic-train 384 --synthetic-test 32 "
         "--batch-size 32 --threads 1 --timing-warmup 0 --lr " +
         lr + " --epochs " + std::to_string(epochs) + " --out " + out;
}

size_t rows_of(const std::string& csv) {
  const std::string text = read_text(csv);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) - 1;  // less the header
}

nlohmann::json trainer_state_in(const std::string& dir) {
  if (fs::exists(dir + "/checkpoint.json"))  // sharded: in its metadata
    return nlohmann::json::parse(read_text(dir + "/checkpoint.json"))["trainer_state"];
  torch::serialize::InputArchive archive;
  archive.load_from(dir + "/checkpoint.pt", torch::kCPU);
  torch::Tensor bytes;
  archive.read("trainer_state", bytes);
  return nlohmann::json::parse(
      std::string(static_cast<const char*>(bytes.data_ptr()), bytes.numel()));
}

// Every record of a finished run says the same: the summary, both tables, the checkpoint's
// trainer state and the runs directory's database.
void expect_complete(const std::string& dir, size_t epochs, size_t steps) {
  const auto s = nlohmann::json::parse(read_text(dir + "/summary.json"));
  EXPECT_EQ(s["status"], "finished") << dir;
  EXPECT_EQ(s["epochs"], epochs) << dir;
  EXPECT_EQ(s["steps"], steps) << dir;
  EXPECT_EQ(s["ranks"].size(), 1u) << dir;
  EXPECT_EQ(rows_of(dir + "/epochs.csv"), epochs) << dir;
  EXPECT_EQ(rows_of(dir + "/steps.csv"), steps) << dir;
  const auto state = trainer_state_in(dir);
  EXPECT_EQ(state["epochs"].size(), epochs) << dir;
  EXPECT_EQ(state["steps"].size(), steps) << dir;
  ResultsDb db(fs::path(dir).parent_path().string() + "/results.sqlite");
  const auto run = db.get(fs::path(dir).filename().string());
  ASSERT_TRUE(run.has_value()) << dir;
  EXPECT_EQ(run->status, "finished") << dir;
  EXPECT_EQ(run->epochs.size(), epochs) << dir;
}

TEST(Faults, KilledAtTwelveRandomInstantsAndResumedEveryRunEndsComplete) {
  testing::TempDir dir;
  // When the first epoch ends (its checkpoint, then its rows) and the whole run, measured here.
  // Even kills fall anywhere in the run (start-up included: those only restart it); odd ones
  // after the first epoch's line, where a kill can part the checkpoint from the rows.
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  testing::Child whole = testing::start(faults_args(dir / "whole"));
  ASSERT_TRUE(testing::read_until(whole, "epoch 1/3", 120)) << whole.output;
  const double first_s = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_EQ(testing::wait_exit(whole), 0) << whole.output;
  const double run_s = std::chrono::duration<double>(Clock::now() - t0).count();
  expect_complete(dir / "whole", 3, 36);

  std::mt19937 rng(17);  // the same 12 instants on every run of the test
  std::uniform_real_distribution<double> anywhere(0.0, run_s), after_first(0.0, run_s - first_s);
  int resumed = 0, restarted = 0;
  for (int k = 0; k < 12; ++k) {
    const std::string out = dir / ("killed" + std::to_string(k));
    // Kills 2, 3, 6, 7, 10 and 11 (three of each timing) write sharded checkpoints: a kill in
    // their save must leave the last complete one named (checkpoint.json is written last).
    const bool sharded = k % 4 >= 2;
    const auto args = [&](const std::string& run) {
      return faults_args(run) + (sharded ? " --checkpoint-format sharded" : "");
    };
    testing::Child c = testing::start(args(out));
    if (k % 2 == 1) {
      ASSERT_TRUE(testing::read_until(c, "epoch 1/3", 120)) << c.output;
    }
    const double delay = k % 2 == 0 ? anywhere(rng) : after_first(rng);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));  // the fault
    ::kill(c.pid, SIGKILL);
    testing::wait_exit(c);
    // Resume; a run killed before its first checkpoint is started again instead.
    auto r = testing::run_command(std::string(PARALLAX_BINARY) + " train --resume " + out);
    if (r.exit_code == 2 && r.output.find("start it again with --out") != std::string::npos) {
      r = testing::run_command(args(out));
      ++restarted;
    } else {
      ++resumed;
    }
    ASSERT_EQ(r.exit_code, 0) << "kill " << k << ":\n" << r.output;
    SCOPED_TRACE("kill " + std::to_string(k));
    expect_complete(out, 3, 36);
    for (const auto& e : fs::directory_iterator(out))
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    EXPECT_EQ(fs::exists(out + "/checkpoint.json"), sharded);
    EXPECT_EQ(fs::exists(out + "/checkpoint.pt"), !sharded);
  }
  std::printf("12 kills over a %.2f s run: %d resumed from a checkpoint, %d before the first\n",
              run_s, resumed, restarted);
  // The odd kills fall after the first epoch's checkpoint, so at least those 6 resume: the test is
  // about them.
  EXPECT_GE(resumed, 6);
}

TEST(Faults, ResumingAFinishedRunTwiceChangesNoByte) {
  testing::TempDir dir;
  const std::string run = dir / "done";
  ASSERT_EQ(testing::run_command(faults_args(run, 2)).exit_code, 0);
  const std::string summary = read_text(run + "/summary.json");
  const std::string db = read_text(dir / "results.sqlite");
  for (int i = 0; i < 2; ++i) {
    const auto r = testing::run_command(std::string(PARALLAX_BINARY) + " train --resume " + run);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("already finished (2 epochs, 24 steps); nothing to do"),
              std::string::npos)
        << r.output;
    EXPECT_EQ(read_text(run + "/summary.json"), summary);
    EXPECT_EQ(read_text(dir / "results.sqlite"), db);
  }
  expect_complete(run, 2, 24);
}

TEST(Faults, AFullDiskIsOneLineAndKeepsTheLastCheckpoint) {
  testing::TempDir dir;
  const std::string run = dir / "full";
  ASSERT_EQ(testing::run_command(faults_args(run, 1)).exit_code, 0);
  // The second epoch's checkpoint (about 2 MB) is larger than the files this shell may write:
  // the write fails with EFBIG (SIGXFSZ ignored), as a full disk fails with ENOSPC.
  const auto r = testing::run_command("bash -c 'ulimit -f 1024; trap \"\" XFSZ; exec " +
                                      std::string(PARALLAX_BINARY) + " train --resume " + run +
                                      " --epochs 2'");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(run + "/checkpoint.pt: cannot write it"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("free space"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  for (const auto& e : fs::directory_iterator(run))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  EXPECT_EQ(trainer_state_in(run)["epochs"].size(), 1u);  // the last good one, intact
}

// Trains `run` at a constant --lr `lr` for 2 epochs (24 steps), which must stop it as diverged
// before the end: exit 3, the one line, status "diverged".
void expect_diverged(const std::string& run, const char* lr) {
  const auto r = testing::run_command(faults_args(run, 2, lr) + " --lr-schedule constant");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("training diverged at step"), std::string::npos) << r.output;
  const auto s = nlohmann::json::parse(read_text(run + "/summary.json"));
  EXPECT_EQ(s["status"], "diverged");
  EXPECT_LT(s["steps"].get<int>(), 24);
}

TEST(Faults, ADivergingRunStopsAtThatStepAndSaysSo) {
  testing::TempDir dir;
  expect_diverged(dir / "diverged", "1e30");
  ResultsDb db(dir / "results.sqlite");
  EXPECT_EQ(db.get("diverged")->status, "diverged");
  const auto inf = testing::run_command(faults_args(dir / "inf", 1, "inf"));
  EXPECT_EQ(inf.exit_code, 2) << inf.output;
  EXPECT_NE(inf.output.find("--lr inf: must be a finite number"), std::string::npos) << inf.output;
}

// A finite loss far above where training started is divergence too (at --lr 50 resnet20's loss
// climbs past 1e10 at chance accuracy within a few steps): it stops there, as a NaN would.
TEST(Faults, AFiniteButExplodedLossStopsAsDiverged) {
  testing::TempDir dir;
  const std::string run = dir / "exploded";
  expect_diverged(run, "50");
  // It stopped at the first step past the bound, and every loss it recorded was finite.
  const std::string csv = read_text(run + "/steps.csv");
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);  // header: loss is the fifth column
  std::vector<double> losses;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string cell;
    for (int i = 0; i < 5; ++i) std::getline(f, cell, ',');
    losses.push_back(std::stod(cell));
  }
  ASSERT_FALSE(losses.empty());
  const double bound = 100 * std::max(std::log(10.0), losses.front());
  for (size_t i = 0; i + 1 < losses.size(); ++i) EXPECT_LE(losses[i], bound) << "step " << i;
  EXPECT_GT(losses.back(), bound);
  EXPECT_TRUE(std::isfinite(losses.back()));
}

TEST(Faults, SmallerMistakesAreOneLineOrRightFigures) {
  testing::TempDir dir;
  // Fewer steps than the timing warm-up: timed on the steps there are, not 0 images/s.
  std::string shorter = faults_args(dir / "short", 1) + " --steps 5";
  shorter.replace(shorter.find("--timing-warmup 0"), 17, "--timing-warmup 5");
  ASSERT_EQ(testing::run_command(shorter).exit_code, 0);
  const auto s = nlohmann::json::parse(read_text(dir / "short/summary.json"));
  EXPECT_GT(s["images_per_sec"].get<double>(), 0.0);
  EXPECT_EQ(s["timing_warmup_steps"], 4);
  // A data check that fails leaves no empty run folder.
  const auto bad =
      testing::run_command(std::string(PARALLAX_BINARY) + " train --dataset mnist --data-dir " +
                           (dir / "nothing") + " --out " + (dir / "nodata"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_FALSE(fs::exists(dir / "nodata")) << bad.output;
  // A run that stopped before its first checkpoint: resume says so and what to do.
  fs::create_directories(dir / "early");
  fs::copy(dir / "short/config.json", dir / "early/config.json");
  const auto early =
      testing::run_command(std::string(PARALLAX_BINARY) + " train --resume " + (dir / "early"));
  EXPECT_EQ(early.exit_code, 2) << early.output;
  EXPECT_NE(early.output.find("stopped before its first checkpoint"), std::string::npos)
      << early.output;
  EXPECT_NE(early.output.find("start it again with --out"), std::string::npos) << early.output;
}

}  // namespace
}  // namespace parallax
