// Data parallelism with real ranks on loopback: DDP(N) equals one device with the full batch,
// a dead rank ends the job and is named, mismatched configs are refused.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "distributed/launcher.h"
#include "models/resnet.h"
#include "run_params.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using testing::checked_parallax;
using testing::run_command;

// A BatchNorm-free resnet20 on 16x16 data: 3 steps of a 16-image global batch, in float64. The
// ranks sum gradients in another order than one device (and oneDNN blocks a 16-image convolution
// otherwise than two 8-image ones, differently on each CPU); in float32 that rounding, amplified
// wherever a ReLU sits at its kink, parts the trajectories by up to 1e-5 within 3 steps. In
// float64 it stays below 1e-13 on any CPU, so 1e-10 is a bound a logic error (O(lr) = 1e-2)
// cannot hide under. No augmentation: its zero padding puts pre-activations at the kink.
std::string ddp_args(const std::string& out) {
  return checked_parallax() +
         " train --model resnet20 --norm none --dtype fp64 --image-size 16 --synthetic-train 48 "
         "--synthetic-test 32 --batch-size 16 --epochs 1 --lr 0.01 --lr-schedule constant "
         "--threads 1 --timing-warmup 0 --comm-timeout 30 --no-augment --out " +
         out;
}

using testing::max_difference;

TEST(Ddp, TwoAndFourRanksEqualOneDeviceWithTheWholeBatch) {
  testing::TempDir dir;
  auto single = run_command(ddp_args(dir / "single") + " --strategy single");
  ASSERT_EQ(single.exit_code, 0) << single.output;
  for (int ranks : {2, 4}) {
    for (const char* overlap : {"--overlap", "--no-overlap"}) {
      const std::string out = dir / ("ddp" + std::to_string(ranks) + overlap);
      // Small buckets so that several all-reduces are in flight during backward.
      // --verify-replicas: every rank checks after every step that it holds rank 0's parameters.
      auto ddp = run_command(ddp_args(out) + " --strategy ddp --bucket-mb 0.05 " + overlap +
                             " --verify-replicas --nproc " + std::to_string(ranks));
      ASSERT_EQ(ddp.exit_code, 0) << ddp.output;
      EXPECT_LT(max_difference(dir / "single", out), 1e-10) << ranks << " ranks " << overlap;
    }
  }
  // Accumulating 2 micro-batches per rank (4 x 2 = 8 pieces of the batch) changes nothing.
  auto acc = run_command(ddp_args(dir / "acc") +
                         " --strategy ddp --accumulate 2 --verify-replicas --nproc 4");
  ASSERT_EQ(acc.exit_code, 0) << acc.output;
  EXPECT_LT(max_difference(dir / "single", dir / "acc"), 1e-10);

  const auto summary =
      nlohmann::json::parse(testing::read_text(dir / "ddp2--overlap/summary.json"));
  EXPECT_EQ(summary["world_size"], 2);
  const double hidden = summary["comm_hidden_fraction"].get<double>();
  EXPECT_GE(hidden, 0.0);
  EXPECT_LE(hidden, 1.0);
  EXPECT_GT(summary["comm_busy_s"].get<double>(), 0.0);
}

// Parameters, then running statistics, of a BatchNorm resnet20 checkpoint, as two flat tensors.
std::pair<torch::Tensor, torch::Tensor> state_of_bn_model(const std::string& run_dir) {
  auto model = make_resnet({"resnet20", 3, 10, true});
  model->set_floating_dtype(testing::dtype_of_run(run_dir));
  torch::serialize::InputArchive archive, model_archive;
  archive.load_from(run_dir + "/checkpoint.pt", torch::kCPU);
  archive.read("model", model_archive);
  model->load(model_archive);
  std::vector<torch::Tensor> params, buffers;
  for (const auto& p : model->parameters())
    params.push_back(p.detach().to(torch::kDouble).reshape(-1));
  for (const auto& b : model->buffers()) buffers.push_back(b.to(torch::kDouble).reshape(-1));
  return {torch::cat(params), torch::cat(buffers)};
}

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / a.abs().max()).item<double>();
}

TEST(Ddp, SyncBatchNormOnTwoRanksEqualsOneDeviceWithTheWholeBatch) {
  testing::TempDir dir;
  // float64 (ddp_args) and no augmentation: zero-padded crops put activations at ReLU's kink,
  // where float32 rounding in the order of the sums (1e-7) flips units and the runs part by 1e-5.
  const std::string bn = " --norm batch --no-augment";
  auto run = [&](const std::string& name, const std::string& extra) {
    auto r = run_command(std::regex_replace(ddp_args(dir / name), std::regex(" --norm none"), bn) +
                         extra);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return state_of_bn_model(dir / name);
  };
  const auto single = run("single", " --strategy single");
  const auto synced = run("sync", " --strategy ddp --sync-bn --nproc 2");
  const auto local = run("local", " --strategy ddp --nproc 2");
  // Synchronised BatchNorm sees the global batch, as one device: the same parameters and the
  // same running statistics (the variances are large numbers: compared relatively).
  EXPECT_LT((single.first - synced.first).abs().max().item<double>(), 1e-10);
  EXPECT_LT(relative_difference(single.second, synced.second), 1e-10);
  // Without it each rank normalises its own half: the test can tell the difference.
  EXPECT_GT((single.first - local.first).abs().max().item<double>(), 1e-3);
  EXPECT_GT(relative_difference(single.second, local.second), 1e-3);
}

TEST(Ddp, ADeadRankEndsEveryRankAndIsNamed) {
  testing::TempDir dir;
  auto r = run_command("PARALLAX_FAULT=1:1 " + ddp_args(dir / "run") + " --strategy ddp --nproc 2");
  EXPECT_EQ(r.exit_code, 17) << r.output;
  EXPECT_NE(r.output.find("rank 1 failed first"), std::string::npos) << r.output;
}

TEST(Ddp, RanksWithDifferentConfigsAreRefused) {
  testing::TempDir dir;
  const int port = free_tcp_port();
  const std::string env =
      "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " WORLD_SIZE=2 ";
  const std::string base = ddp_args(dir / "run") + " --strategy ddp";
  auto r = run_command("((" + env + "RANK=0 " + base + " --seed 1 > " + (dir / "rank0.log") +
                       " 2>&1; echo rank0=$? >> " + (dir / "rank0.log") + ") & " + env + "RANK=1 " +
                       base + " --seed 2; echo rank1=$?; wait)");
  const std::string rank0 = testing::read_text(dir / "rank0.log");
  EXPECT_NE(r.output.find("another config than rank 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rank1=2"), std::string::npos) << r.output;
  EXPECT_NE(rank0.find("rank0=2"), std::string::npos) << rank0;
}

TEST(Rendezvous, BadPortsMastersAndWorldSizesAreOneClearLine) {
  testing::TempDir dir;
  const std::string base = std::regex_replace(ddp_args(dir / "run"),
                                              std::regex("--comm-timeout 30"), "--comm-timeout 3") +
                           " --strategy ddp";
  // A port something else listens on.
  const int busy = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(busy, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(busy, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(busy, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  // Rank 0 of a world a launcher of others set up hosts a TCP store (a one-node run of parallax's
  // own launcher meets in a FileStore and opens no port).
  auto in_use =
      run_command("MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " WORLD_SIZE=2 RANK=0 " + base);
  ::close(busy);
  EXPECT_NE(in_use.exit_code, 0);
  EXPECT_NE(in_use.output.find("is the port in use?"), std::string::npos) << in_use.output;

  // Rank 1 alone: nobody serves the store.
  const std::string env = "MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_tcp_port()) +
                          " WORLD_SIZE=2 RANK=1 ";
  auto unreachable = run_command(env + base);
  EXPECT_EQ(unreachable.exit_code, 2) << unreachable.output;
  EXPECT_NE(unreachable.output.find("cannot reach rank 0's rendezvous store"), std::string::npos)
      << unreachable.output;

  // A launcher's world of 2 against --nproc 3.
  auto mismatch = run_command(env + base + " --nproc 3");
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch.output;
  EXPECT_NE(mismatch.output.find("--nproc 3 x --nnodes 1 = 3 ranks"), std::string::npos)
      << mismatch.output;
}

}  // namespace
}  // namespace parallax
