// Measured memory (summary.json ranks[i].memory_measured, from the allocator) with real ranks:
// a pipeline stage's rank holds its own stage's parameters and no other's, DDP holds one copy of
// the gradients, ZeRO-2 holds its shard plus the buckets in flight. Bytes, not names.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "run_params.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::run_ok;
using testing::summary_of;

std::string memory_args(const std::string& model, const std::string& out) {
  return checked_parallax() + " train --model " + model +
         " --image-size 16 --synthetic-train 32 --synthetic-test 16 --batch-size 16 --epochs 1 "
         "--threads 1 --timing-warmup 0 --comm-timeout 60 --no-checkpoint --out " +
         out;
}

int64_t measured(const nlohmann::json& rank, const char* kind) {
  return rank["memory_measured"][kind].get<int64_t>();
}

TEST(Memory, EachStageHoldsItsOwnParametersAndNoOther) {
  testing::TempDir dir;
  // ResNet-50 (94 MB of float32 parameters): its blocks dwarf the C++ objects of the module tree,
  // which every rank keeps.
  const std::string out = dir / "pipe";
  run_ok(memory_args("resnet50", out) +
         " --strategy pipeline --nproc 2 --micro-batches 2 --balance params");
  const auto s = summary_of(out);
  const int64_t whole = s["model"]["parameters"].get<int64_t>() * 4;
  int64_t sum = 0;
  for (const auto& r : s["ranks"]) {
    const int64_t share = r["param_bytes"].get<int64_t>();  // this stage's, by its tensors
    const int64_t got = measured(r, "parameters");
    sum += got;
    // Within 2% of its stage's share (the rest: BatchNorm's running statistics, module objects).
    EXPECT_NEAR(static_cast<double>(got), static_cast<double>(share), 0.02 * share)
        << "rank " << r["rank"];
    EXPECT_LT(got, 0.75 * whole) << "rank " << r["rank"] << " holds more than its stage";
    // Gradients and momentum: its own stage's too.
    EXPECT_NEAR(static_cast<double>(measured(r, "gradients")), static_cast<double>(share),
                0.02 * share);
    EXPECT_NEAR(static_cast<double>(measured(r, "optimizer_state")), static_cast<double>(share),
                0.02 * share);
  }
  EXPECT_LT(sum, 1.02 * whole);  // together one model, not one per rank
}

TEST(Memory, DdpHoldsOneGradientCopyAndZeroTwoItsShardPlusBuckets) {
  testing::TempDir dir;
  run_ok(memory_args("resnet56", dir / "ddp") + " --strategy ddp --nproc 2");
  // 0.5 MiB buckets: several, each freed once its reduce-scatter completes; one whole bucket at
  // a time, the ZeRO paper's figure.
  run_ok(memory_args("resnet56", dir / "zero2") +
         " --strategy zero --zero-stage 2 --nproc 2 --bucket-mb 0.5 --tail-bucket-mb 0 "
         "--buckets-in-flight 1");
  const auto ddp = summary_of(dir / "ddp"), zero = summary_of(dir / "zero2");
  const int64_t copy = ddp["model"]["parameters"].get<int64_t>() * 4;
  for (const auto& r : ddp["ranks"]) {
    EXPECT_LE(measured(r, "gradients"), 1.05 * copy) << "DDP holds gradients twice";
    EXPECT_GE(measured(r, "gradients"), 0.95 * copy);
  }
  int64_t largest_bucket = 0;
  for (const auto& b : zero["strategy_details"]["buckets"])
    largest_bucket = std::max(largest_bucket, b["bytes"].get<int64_t>());
  for (const auto& r : zero["ranks"]) {
    const int64_t got = measured(r, "gradients");
    EXPECT_LE(got, 1.05 * (copy / 2 + largest_bucket)) << "rank " << r["rank"];
    EXPECT_LT(got, copy);  // less than DDP's one copy
    // Optimizer state (momentum): half of DDP's.
    EXPECT_NEAR(static_cast<double>(measured(r, "optimizer_state")), copy / 2.0, 0.05 * copy);
  }
}

}  // namespace
}  // namespace parallax
