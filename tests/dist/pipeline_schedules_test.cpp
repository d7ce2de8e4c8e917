// Today's pipeline schedules with real ranks on loopback, against one device with the whole
// batch (BatchNorm-free resnet20 in float64, 3 steps): interleaved 1F1B (2 and 3 chunks per
// rank, one rank with every hand-over in memory), ZB-H1, ZB-H2 and ZB-V on 2 and 4 ranks. Each
// rank's trace shows its F, I and W spans; summaries carry the schedule's theory and the bubble
// from its profiled times; a ZB-V checkpoint (pieces on ranks in a V) resumes on one device; bad
// schedule settings are one clear line, before any rank starts.
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
using testing::run_ok;
using testing::summary_of;

std::string schedules_args(const std::string& out, int epochs = 1) {
  return checked_parallax() +
         " train --model resnet20 --norm none --dtype fp64 --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --lr 0.01 --lr-schedule constant --threads 1 --no-augment "
         "--timing-warmup 0 --comm-timeout 30 --batch-size 16 --balance blocks --epochs " +
         std::to_string(epochs) + " --out " + out;
}

int spans_named(const std::string& trace_path, const std::string& name) {
  const auto trace = nlohmann::json::parse(testing::read_text(trace_path));
  int n = 0;
  for (const auto& e : trace["traceEvents"])
    if (e["ph"] == "X" && e["name"] == name) ++n;
  return n;
}

TEST(PipelineSchedules, EverySchedulesTrainingEqualsOneDevice) {
  testing::TempDir dir;
  const std::string single = dir / "single";
  run_ok(schedules_args(single) + " --strategy single");
  const double loss = summary_of(single)["final_loss"].get<double>();
  struct Case {
    std::string schedule;
    int ranks;
    std::string extra;
    int chunks;
  };
  const std::vector<Case> cases = {
      {"interleaved-1f1b", 1, " --virtual-stages 2", 2},
      {"interleaved-1f1b", 2, "", 2},
      {"interleaved-1f1b", 2, " --virtual-stages 3", 3},
      {"interleaved-1f1b", 4, "", 2},
      {"zb-h1", 2, "", 1},
      {"zb-h1", 4, "", 1},
      {"zb-h2", 2, "", 1},
      {"zb-h2", 4, "", 1},
      {"zb-v", 2, "", 2},
      {"zb-v", 4, "", 2},
  };
  for (const auto& c : cases) {
    const std::string name =
        c.schedule + "-" + std::to_string(c.ranks) + "-" + std::to_string(c.chunks);
    SCOPED_TRACE(name);
    const std::string out = dir / name;
    run_ok(schedules_args(out) + " --strategy pipeline --micro-batches 8 --nproc " +
           std::to_string(c.ranks) + " --pipeline-schedule " + c.schedule + c.extra);
    EXPECT_LT(max_difference(single, out), 1e-10);
    const auto s = summary_of(out);
    EXPECT_NEAR(s["final_loss"].get<double>(), loss, 1e-10);
    const auto d = s["strategy_details"];
    EXPECT_EQ(d["schedule"], c.schedule);
    EXPECT_EQ(d["virtual_stages"], c.chunks);
    EXPECT_EQ(d["planned_on"], c.schedule == "zb-v" ? "profiled times of step 2" : "unit times");
    EXPECT_EQ(d["stage_partition"].size(), static_cast<size_t>(c.ranks * c.chunks));
    const double theory = d["bubble_fraction_theory"].get<double>();
    EXPECT_GE(theory, 0.0);
    EXPECT_LT(theory, 0.5);
    EXPECT_GE(d["bubble_fraction_profiled"].get<double>(), 0.0);
    EXPECT_LT(d["bubble_fraction_profiled"].get<double>(), 1.0);
    for (const auto& r : d["ranks"]) {
      // ZB-V is planned again on profiled times after its first steps: at most 2p chunks.
      if (c.schedule == "zb-v")
        EXPECT_LE(r["held_micro_batches"].get<int>(), 2 * c.ranks);
      else
        EXPECT_EQ(r["held_micro_batches"], r["held_micro_batches_theory"]);
      EXPECT_EQ(r["chunks"].size(), static_cast<size_t>(c.chunks));
    }
    // The trace of rank 0 shows the split: one W span per micro-batch and chunk in each of the
    // 3 training steps, no full backward.
    const bool split = c.schedule.rfind("zb", 0) == 0;
    const std::string trace = out + "/trace/rank0.json";
    EXPECT_EQ(spans_named(trace, "W7"), split ? 3 : 0);
    EXPECT_EQ(spans_named(trace, "I7"), split ? 3 : 0);
    EXPECT_EQ(spans_named(trace, "B7"), split ? 0 : 3);
    if (c.chunks > 1) {
      EXPECT_EQ(spans_named(trace, split ? "W7.1" : "B7.1"), 3);
    }
  }
}

TEST(PipelineSchedules, AZeroBubbleVCheckpointResumesOnOneDevice) {
  testing::TempDir dir;
  const std::string whole = dir / "whole", first = dir / "first";
  run_ok(schedules_args(whole, 2) + " --strategy single");
  run_ok(schedules_args(first, 1) +
         " --strategy pipeline --nproc 2 --micro-batches 4 "
         "--pipeline-schedule zb-v");
  run_ok(checked_parallax() + " train --resume " + first +
         " --epochs 2 --strategy single --nproc 1");
  EXPECT_LT(max_difference(whole, first), 1e-10);
}

TEST(PipelineSchedules, BadScheduleSettingsAreOneClearLine) {
  testing::TempDir dir;
  const std::string base = schedules_args(dir / "bad") + " --strategy pipeline";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --nproc 2 --pipeline-schedule zb-h1 --virtual-stages 2",
       "--virtual-stages 2: needs --pipeline-schedule interleaved-1f1b"},
      {" --nproc 2 --pipeline-schedule zb-v --virtual-stages 1", "zb-v holds 2 chunks"},
      {" --nproc 2 --pipeline-schedule zb-x", "--pipeline-schedule"},
      {" --nproc 4 --pipeline-schedule interleaved-1f1b --micro-batches 6",
       "6 micro-batches is not a multiple of 4 stages"},
      {" --nproc 2 --pipeline-schedule zb-v --split-at layer3.0",
       "cuts the model into 4 pieces (2 per rank); give 3 block names"},
      {" --nproc 4 --pipeline-schedule interleaved-1f1b --virtual-stages 3 --micro-batches 8",
       "12 pieces, but resnet20 has only 11 blocks"},
  };
  for (const auto& [args, needle] : cases) {
    const auto r = run_command(base + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  }
  const auto model = run_command(schedules_args(dir / "m") +
                                 " --strategy model --nproc 2 --pipeline-schedule zb-v");
  EXPECT_EQ(model.exit_code, 2) << model.output;
  EXPECT_NE(model.output.find("use --strategy pipeline"), std::string::npos) << model.output;
}

// Hybrid with two chunks per rank: each chunk's last backward of the step completes its
// parameters' gradients at a different time, and buckets span both chunks. Arming the replicas'
// all-reduce at every backward of the last micro-batch (the old way) reduced some buckets twice.
TEST(PipelineSchedules, HybridWithTwoChunksPerRankEqualsOneDevice) {
  testing::TempDir dir;
  const std::string single = dir / "single";
  run_ok(schedules_args(single) + " --strategy single");
  for (const std::string schedule : {"interleaved-1f1b", "zb-v"}) {
    SCOPED_TRACE(schedule);
    const std::string out = dir / schedule;
    run_ok(schedules_args(out) + " --strategy hybrid --dp 2 --pp 2 --nproc 4 --micro-batches 4 "
           "--bucket-mb 0.02 --pipeline-schedule " + schedule);
    EXPECT_LT(max_difference(single, out), 1e-10);
    const auto d = summary_of(out)["strategy_details"];
    EXPECT_EQ(d["virtual_stages"], 2);
    EXPECT_EQ(d["replicas"], 2);
  }
}

}  // namespace
}  // namespace parallax
