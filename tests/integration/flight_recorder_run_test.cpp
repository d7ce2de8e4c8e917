// The flight recorder through the real launcher: rank 1 hangs where it should issue a collective
// (PARALLAX_TEST_SKIP_COLLECTIVE), rank 0 waits on it until --comm-timeout; the launcher names
// rank 1, the collective's number and purpose, and every rank's record is in the run folder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <regex>
#include <string>

#include "distributed/flight_verdict.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

TEST(FlightRecorderRun, TheLauncherNamesTheRankThatNeverIssuedACollective) {
  testing::TempDir dir;
  const std::string run = dir / "hang";
  const auto r = testing::run_command(
      "env -u PARALLAX_CHECK_COLLECTIVES 'PARALLAX_TEST_SKIP_COLLECTIVE=1:3:gradient bucket' " +
      std::string(PARALLAX_BINARY) +
      " train --strategy ddp --nproc 2 --model resnet20 --image-size 16 --synthetic-train 128 "
      "--synthetic-test 32 --batch-size 32 --threads 1 --timing-warmup 0 --epochs 1 "
      "--comm-timeout 3 --out " + run);
  EXPECT_EQ(r.exit_code, 1) << r.output;  // rank 0's: its collective timed out
  // Every rank left its record: rank 0 on its failure, rank 1 when the launcher asked.
  const auto records = read_flight_records(run + "/flight");
  ASSERT_EQ(records.size(), 2u) << r.output;
  // Rank 1's last world collective is the one before the third bucket.
  int64_t issued_by_1 = -1;
  for (const auto& e : records[1].entries)
    if (e.group == "world" && e.op != "send" && e.op != "recv") issued_by_1 = e.seq;
  const int64_t n = issued_by_1 + 1;
  bool rank0_waits = false;
  for (const auto& e : records[0].entries)
    if (e.group == "world" && e.seq == n)
      rank0_waits = e.purpose == "gradient bucket" && e.state != "completed";
  EXPECT_TRUE(rank0_waits) << "collective #" << n << "\n" << r.output;
  const std::string line = "parallax: error: rank 1 never issued collective #" +
                           std::to_string(n) + " 'gradient bucket' (all_reduce_sum of ";
  EXPECT_NE(r.output.find(line), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("that rank 0 waited on"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank 0 failed first (exit code 1)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(flight records: " + run + "/flight/)"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace parallax
