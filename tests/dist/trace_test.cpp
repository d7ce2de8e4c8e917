// Every strategy's trace/rank<R>.json on real ranks: forward, backward and optimizer on the compute
// track, each bucket's collective on the communication track from launch to completion, and for
// ddp a step's communication spans covering exactly the time steps.csv says was in flight.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "run_params.h"
#include "test_paths.h"
#include "trace_spans.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::run_ok;
using testing::Span;
using testing::spans_of;

std::string trace_args(const std::string& out) {
  return checked_parallax() +
         " train --model resnet20 --image-size 16 --synthetic-train 128 --synthetic-test 32 "
         "--batch-size 32 --epochs 1 --threads 1 --timing-warmup 0 --comm-timeout 60 --out " +
         out;
}

// steps.csv's column `name`, one value per step.
std::vector<double> column(const std::string& run_dir, const std::string& name) {
  std::istringstream csv(testing::read_text(run_dir + "/steps.csv"));
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> header;
  for (std::istringstream h(line); std::getline(h, line, ',');) header.push_back(line);
  const size_t at = std::find(header.begin(), header.end(), name) - header.begin();
  std::vector<double> values;
  while (std::getline(csv, line)) {
    std::istringstream cells(line);
    std::string cell;
    for (size_t i = 0; i <= at && std::getline(cells, cell, ','); ++i) {
    }
    values.push_back(std::stod(cell));
  }
  return values;
}

// Spans on `lane` ("comm": any of the collectives' lanes) whose name starts with `prefix`.
int count_named(const std::vector<Span>& spans, const std::string& lane,
                const std::string& prefix) {
  return static_cast<int>(std::count_if(spans.begin(), spans.end(), [&](const Span& s) {
    return (lane == "comm" ? testing::on_comm_lane(s) : s.lane == lane) &&
           s.name.rfind(prefix, 0) == 0;
  }));
}

TEST(Trace, DdpHasOneCommSpanPerBucketPerStepCoveringItsBusyTime) {
  testing::TempDir dir;
  const std::string out = dir / "ddp";
  // Small buckets: several all-reduces per step, overlapping backward (the first bucket holds
  // 1 MiB, so float64 to make the model 2.1 MiB).
  run_ok(trace_args(out) +
         " --strategy ddp --nproc 2 --dtype fp64 --bucket-mb 0.25 "
         "--tail-bucket-mb 0");
  const size_t buckets = testing::summary_of(out)["strategy_details"]["buckets"].size();
  ASSERT_GE(buckets, 3u);
  const auto busy = column(out, "comm_busy_s");
  ASSERT_EQ(busy.size(), 4u);  // 128 images in steps of 32
  for (int rank : {0, 1}) {
    const auto spans = spans_of(out + "/trace/rank" + std::to_string(rank) + ".json");
    std::vector<Span> steps;
    for (const auto& s : spans)
      if (s.lane == "step") steps.push_back(s);
    ASSERT_EQ(steps.size(), 4u) << "rank " << rank;
    // The all-reduces overlap one another: spread over lanes so that every lane nests.
    EXPECT_EQ(testing::misnested(spans), "") << "rank " << rank;
    for (size_t k = 0; k < steps.size(); ++k) {
      std::vector<Span> comm, step_spans;
      for (const auto& s : spans)
        if (s.start >= steps[k].start && s.end <= steps[k].end) step_spans.push_back(s);
      for (const auto& s : step_spans)
        if (testing::on_comm_lane(s)) comm.push_back(s);
      EXPECT_EQ(comm.size(), buckets) << "rank " << rank << " step " << k;
      for (const char* phase : {"forward", "backward", "optimizer"})
        EXPECT_EQ(count_named(step_spans, "compute", phase), 1) << phase << " step " << k;
      for (const auto& c : comm) EXPECT_EQ(c.name.rfind("all-reduce bucket ", 0), 0u) << c.name;
      // Rank 0's steps.csv holds rank 0's figures.
      if (rank == 0) {
        EXPECT_NEAR(testing::union_seconds(comm), busy[k], 0.05 * busy[k]) << "step " << k;
      }
    }
  }
}

TEST(Trace, SingleZeroAndHybridTraceTheirSteps) {
  testing::TempDir dir;
  run_ok(trace_args(dir / "single") + " --strategy single");
  auto single = spans_of(dir / "single/trace/rank0.json");
  for (const char* phase : {"forward", "backward", "optimizer"})
    EXPECT_EQ(count_named(single, "compute", phase), 4) << phase;
  EXPECT_EQ(count_named(single, "step", "step "), 4);
  EXPECT_EQ(count_named(single, "comm", ""), 0);

  // ZeRO: a reduce-scatter per bucket per step; an all-gather per bucket after every step's
  // update (the last step's is waited for by the evaluation), its wait nested in forward.
  run_ok(trace_args(dir / "zero") +
         " --strategy zero --nproc 2 --dtype fp64 --bucket-mb 0.5 --tail-bucket-mb 0");
  const size_t buckets = testing::summary_of(dir / "zero")["strategy_details"]["buckets"].size();
  ASSERT_GE(buckets, 2u);
  auto zero = spans_of(dir / "zero/trace/rank1.json");
  EXPECT_EQ(count_named(zero, "comm", "reduce-scatter bucket "), 4 * static_cast<int>(buckets));
  EXPECT_EQ(count_named(zero, "comm", "all-gather bucket "), 4 * static_cast<int>(buckets));
  EXPECT_EQ(count_named(zero, "compute", "optimizer"), 4);
  EXPECT_EQ(testing::misnested(zero), "");

  // Hybrid 2 x 2: each stage's gradients all-reduced over its replica, per bucket and step.
  run_ok(trace_args(dir / "hybrid") + " --strategy hybrid --nproc 4 --dp 2 --pp 2");
  for (int rank = 0; rank < 4; ++rank) {
    auto spans = spans_of(dir / ("hybrid/trace/rank" + std::to_string(rank) + ".json"));
    // A stage's share of resnet20 (0.5 MiB) fits the first 1 MiB bucket: one per step.
    EXPECT_EQ(count_named(spans, "comm", "all-reduce bucket 0 "), 4) << "rank " << rank;
    EXPECT_EQ(count_named(spans, "compute", "optimizer"), 4) << "rank " << rank;
    EXPECT_EQ(count_named(spans, "step", "step "), 4) << "rank " << rank;
    EXPECT_EQ(testing::misnested(spans), "") << "rank " << rank;
  }
}

TEST(Trace, NoTraceWritesNone) {
  testing::TempDir dir;
  run_ok(trace_args(dir / "ddp") + " --strategy ddp --nproc 2 --no-trace");
  EXPECT_FALSE(std::filesystem::exists(dir / "ddp/trace"));
}

}  // namespace
}  // namespace parallax
