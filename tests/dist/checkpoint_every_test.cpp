// --checkpoint-every: a run killed mid-epoch and resumed from its latest checkpoint ends with the
// model, step count and epoch records of the run that was never interrupted (ddp, 2 ranks).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "dist/run_params.h"
#include "integration/launcher_util.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::run_command;

std::string checkpoint_args(const std::string& out, const std::string& strategy = "ddp") {
  return checked_parallax() +
         " train --model resnet20 --image-size 16 --synthetic-train 128 --synthetic-test 32 "
         "--batch-size 16 --epochs 2 --lr 0.05 --threads 1 --timing-warmup 0 --comm-timeout 60 "
         "--nproc 2 --checkpoint-every 3 --strategy " + strategy + " --out " +
         out;
}

// The numeric columns of epochs.csv that do not depend on time.
std::string epoch_records(const std::string& run) {
  std::string out;
  std::istringstream in(testing::read_text(run + "/epochs.csv"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    std::string cell;
    for (int i = 0; std::getline(cells, cell, ','); ++i)
      if (i <= 5) out += cell + ",";  // epoch, steps, train loss/accuracy, test loss/accuracy
    out += "\n";
  }
  return out;
}

TEST(CheckpointEvery, ARunKilledMidEpochResumesToTheUninterruptedRunsModelBitwise) {
  testing::TempDir dir;
  const std::string killed = dir / "killed", whole = dir / "whole";
  // Rank 0 SIGKILLs itself after step 4 of epoch 0; the checkpoint after step 3 is the latest.
  auto r = run_command("PARALLAX_FAULT_KILL=0:4 " + checkpoint_args(killed));
  ASSERT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PARALLAX_FAULT_KILL: rank 0 kills itself after step 4"),
            std::string::npos)
      << r.output;
  r = run_command(checked_parallax() + " train --resume " + killed);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(checkpoint_args(whole));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(testing::tensors_differing(killed, whole), 0);
  const auto s = nlohmann::json::parse(testing::read_text(killed + "/summary.json"));
  EXPECT_EQ(s["steps"], 16);
  EXPECT_EQ(s["status"], "finished");
  // The resumed epoch's sums continue from the checkpoint's: the same records to the last digit.
  EXPECT_EQ(epoch_records(killed), epoch_records(whole));
}

// A rank killed (SIGKILL) inside a sharded checkpoint, its own pieces written and the others'
// not all: the checkpoint is not marked complete, so the previous one stays the run's, and the
// resumed run ends with the uninterrupted run's model.
TEST(CheckpointEvery, AKillInsideAShardedSaveLeavesThePreviousCheckpointUsable) {
  testing::TempDir dir;
  const std::string killed = dir / "killed", whole = dir / "whole";
  const std::string zero = " --checkpoint-format sharded";
  auto r = run_command("PARALLAX_FAULT_KILL_IN_SAVE=1:6 " + checkpoint_args(killed, "zero") + zero);
  ASSERT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PARALLAX_FAULT_KILL_IN_SAVE: rank 1 kills itself in the checkpoint "
                          "of step 6"),
            std::string::npos)
      << r.output;
  const auto meta = nlohmann::json::parse(testing::read_text(killed + "/checkpoint.json"));
  EXPECT_EQ(meta["step"], 3);
  EXPECT_TRUE(std::filesystem::exists(killed + "/checkpoint/step-000000006/rank1.bin"));
  r = run_command(checked_parallax() + " train --resume " + killed);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(checkpoint_args(whole, "zero") + zero);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(testing::tensors_differing(killed, whole), 0);
  EXPECT_EQ(epoch_records(killed), epoch_records(whole));
}

}  // namespace
}  // namespace parallax
