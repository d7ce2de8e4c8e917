// Mixed precision on the GPU through the CLI: bf16 and loss-scaled fp16 autocast learn with fp32
// master weights, channels-last changes no number, and two ranks sharing one GPU skip an fp16
// overflow alike (--verify-replicas) with bf16 gradients on the wire.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "../dist/run_params.h"
#include "cuda_util.h"
#include "test_paths.h"

namespace parallax {
namespace {

using testing::max_difference;
using testing::run_ok;
using testing::summary_of;

std::string precision_args(const std::string& out, const char* dtype = "fp32", int epochs = 4) {
  return std::string(PARALLAX_BINARY) +
         " train --model resnet20 --norm none --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --batch-size 16 --lr 0.01 --lr-schedule constant --threads 1 "
         "--timing-warmup 0 --comm-timeout 60 --no-augment --bucket-mb 0.05 --device cuda "
         "--dtype " +
         std::string(dtype) + " --epochs " + std::to_string(epochs) + " --out " + out;
}

// steps.csv's skipped column (the last), per step.
// steps.csv's "skipped" column, found by its name in the header.
std::vector<bool> skipped_of(const std::string& dir) {
  std::istringstream csv(testing::read_text(dir + "/steps.csv"));
  std::string line, field;
  std::getline(csv, line);
  size_t column = 0;
  for (std::istringstream header(line); std::getline(header, field, ',') && field != "skipped";)
    ++column;
  std::vector<bool> out;
  while (std::getline(csv, line)) {
    std::istringstream row(line);
    for (size_t c = 0; c <= column; ++c) std::getline(row, field, ',');
    out.push_back(field == "1");
  }
  return out;
}

TEST(CudaPrecision, Bf16AndFp16LearnAndFp16SkipsItsOverflows) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  run_ok(precision_args(dir / "fp32"));
  run_ok(precision_args(dir / "bf16") + " --precision bf16");
  run_ok(precision_args(dir / "fp16") + " --precision fp16 --loss-scale 262144");
  const double first = summary_of(dir / "fp32")["final_loss"].get<double>();
  for (const char* p : {"bf16", "fp16"}) {
    const auto s = summary_of(dir / p);
    EXPECT_EQ(s["precision"], p);
    EXPECT_NEAR(s["final_loss"].get<double>(), first, 0.25 * first) << p;
  }
  const auto skipped = skipped_of(dir / "fp16");
  ASSERT_FALSE(skipped.empty());
  EXPECT_TRUE(skipped.front());  // 2^18 overflows fp16 at first
  EXPECT_FALSE(skipped.back());
  // mixed is fp16 on a GPU.
  run_ok(precision_args(dir / "mixed") + " --precision mixed --loss-scale 262144");
  EXPECT_EQ(summary_of(dir / "mixed")["precision"], "fp16");
}

TEST(CudaPrecision, ChannelsLastAndASharedGpusFp16RanksAgree) {
  PARALLAX_REQUIRE_GPUS(1);
  testing::TempDir dir;
  run_ok(precision_args(dir / "plain", "fp64", 1));
  run_ok(precision_args(dir / "cl", "fp64", 1) + " --channels-last");
  EXPECT_LT(max_difference(dir / "plain", dir / "cl"), 1e-10);
  run_ok(precision_args(dir / "ddp16") +
         " --precision fp16 --loss-scale 262144 --strategy ddp --nproc 2 --share-gpu "
         "--backend gloo --grad-reduce-dtype bf16 --verify-replicas");
  EXPECT_TRUE(skipped_of(dir / "ddp16").front());
}

}  // namespace
}  // namespace parallax
