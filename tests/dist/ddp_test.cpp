// Data parallelism with real ranks on loopback: DDP(N) equals one device with the full batch,
// a dead rank ends the job and is named, mismatched configs are refused.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "dist/launcher.h"
#include "models/resnet.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::run_command;

// A BatchNorm-free resnet20 on 16x16 data: 3 steps of a 16-image global batch.
std::string train_args(const std::string& out) {
  return std::string(PARALLAX_BINARY) +
         " train --model resnet20 --norm none --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --batch-size 16 --epochs 1 --lr 0.01 --lr-schedule constant "
         "--threads 1 --timing-warmup 0 --comm-timeout 30 --out " +
         out;
}

std::vector<torch::Tensor> parameters_of(const std::string& run_dir) {
  auto model = make_resnet({"resnet20", 3, 10, false});
  torch::serialize::InputArchive archive, model_archive;
  archive.load_from(run_dir + "/checkpoint.pt");
  archive.read("model", model_archive);
  model->load(model_archive);
  return model->parameters();
}

double max_difference(const std::string& a, const std::string& b) {
  const auto pa = parameters_of(a), pb = parameters_of(b);
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
  return worst;
}

TEST(Ddp, TwoAndFourRanksEqualOneDeviceWithTheWholeBatch) {
  testing::TempDir dir;
  auto single = run_command(train_args(dir / "single") + " --strategy single");
  ASSERT_EQ(single.exit_code, 0) << single.output;
  for (int ranks : {2, 4}) {
    for (const char* overlap : {"--overlap", "--no-overlap"}) {
      const std::string out = dir / ("ddp" + std::to_string(ranks) + overlap);
      // Small buckets so that several all-reduces are in flight during backward.
      // --verify-replicas: every rank checks after every step that it holds rank 0's parameters.
      auto ddp = run_command(train_args(out) + " --strategy ddp --bucket-mb 0.05 " + overlap +
                             " --verify-replicas --nproc " + std::to_string(ranks));
      ASSERT_EQ(ddp.exit_code, 0) << ddp.output;
      EXPECT_LT(max_difference(dir / "single", out), 1e-5) << ranks << " ranks " << overlap;
    }
  }
  // Accumulating 2 micro-batches per rank (4 x 2 = 8 pieces of the batch) changes nothing.
  auto acc = run_command(train_args(dir / "acc") +
                         " --strategy ddp --accumulate 2 --verify-replicas --nproc 4");
  ASSERT_EQ(acc.exit_code, 0) << acc.output;
  EXPECT_LT(max_difference(dir / "single", dir / "acc"), 1e-5);

  const auto summary =
      nlohmann::json::parse(testing::read_text(dir / "ddp2--overlap/summary.json"));
  EXPECT_EQ(summary["world_size"], 2);
  const double hidden = summary["comm_hidden_fraction"].get<double>();
  EXPECT_GE(hidden, 0.0);
  EXPECT_LE(hidden, 1.0);
  EXPECT_GT(summary["comm_busy_s"].get<double>(), 0.0);
}

TEST(Ddp, ADeadRankEndsEveryRankAndIsNamed) {
  testing::TempDir dir;
  auto r =
      run_command("PARALLAX_FAULT=1:1 " + train_args(dir / "run") + " --strategy ddp --nproc 2");
  EXPECT_EQ(r.exit_code, 17) << r.output;
  EXPECT_NE(r.output.find("rank 1 failed first"), std::string::npos) << r.output;
}

TEST(Ddp, RanksWithDifferentConfigsAreRefused) {
  testing::TempDir dir;
  const int port = free_tcp_port();
  const std::string env =
      "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " WORLD_SIZE=2 ";
  const std::string base = train_args(dir / "run") + " --strategy ddp";
  auto r = run_command("((" + env + "RANK=0 " + base + " --seed 1 > " + (dir / "rank0.log") +
                       " 2>&1; echo rank0=$? >> " + (dir / "rank0.log") + ") & " + env + "RANK=1 " +
                       base + " --seed 2; echo rank1=$?; wait)");
  const std::string rank0 = testing::read_text(dir / "rank0.log");
  EXPECT_NE(r.output.find("another config than rank 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank1=2"), std::string::npos) << r.output;
  EXPECT_NE(rank0.find("rank0=2"), std::string::npos) << rank0;
}

}  // namespace
}  // namespace parallax
