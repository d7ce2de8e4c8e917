// A slow rank named (metrics/stragglers.h) with real ranks on loopback: rank 1 planted to work
// 60 ms longer every step (train/planted_delay.h) is named in summary.json with its work ratio
// and the others' wait, and every rank's step, work and wait times are there.
#include <gtest/gtest.h>

#include "run_params.h"

namespace parallax {
namespace {

using testing::run_ok;
using testing::summary_of;

TEST(Stragglers, APlantedSlowRankIsNamedAndTheOthersWaitForIt) {
  testing::TempDir dir;
  const std::string out = dir / "ddp";
  // Without the collective checker, whose handshake before each collective would block the
  // waiting rank's backward and hide its wait in its work.
  run_ok("PARALLAX_TEST_SLOW_RANK=1:60 " + std::string(PARALLAX_BINARY) +
         " train --model resnet20 --norm none --image-size 8 --synthetic-train 160 "
         "--synthetic-test 16 --batch-size 16 --epochs 1 --threads 1 --timing-warmup 1 "
         "--no-checkpoint --no-trace --strategy ddp --nproc 2 --out " + out);
  const auto s = summary_of(out);
  ASSERT_EQ(s["ranks"].size(), 2u);
  for (const auto& r : s["ranks"])
    for (const char* part : {"step_s", "work_s", "wait_s"}) {
      EXPECT_GE(r["timing"][part]["p90"].get<double>(), r["timing"][part]["median"].get<double>());
      EXPECT_GE(r["timing"][part]["median"].get<double>(), 0) << part;
    }
  // Rank 1 works its step plus 60 ms; rank 0 spends most of the same step waiting for it in the
  // gradients' all-reduce.
  EXPECT_GE(s["ranks"][1]["timing"]["work_s"]["median"].get<double>(), 0.060);
  ASSERT_TRUE(s["straggler"].is_object()) << s["ranks"].dump();
  EXPECT_EQ(s["straggler"]["rank"], 1);
  EXPECT_GT(s["straggler"]["work_ratio"].get<double>(), 1.5);
  EXPECT_GT(s["straggler"]["others_wait_fraction"].get<double>(), 0.3);
  EXPECT_NE(s["straggler"]["reading"].get<std::string>().find("rank 1 works"), std::string::npos);
}

TEST(Stragglers, AMalformedPlantIsOneLine) {
  testing::TempDir dir;
  const auto r = testing::run_command("PARALLAX_TEST_SLOW_RANK=fast " + std::string(PARALLAX_BINARY) +
                                      " train --model resnet20 --image-size 8 --synthetic-train 16 "
                                      "--synthetic-test 16 --batch-size 16 --epochs 1 --out " +
                                      (dir / "x"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("PARALLAX_TEST_SLOW_RANK=fast"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace parallax
