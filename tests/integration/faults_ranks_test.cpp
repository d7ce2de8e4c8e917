// Faults across ranks, through the real launcher: a stopped rank is named within the collective
// timeout, Ctrl-C stops every rank as "interrupted" (and --resume goes on), settings that can be
// checked before the ranks start are refused once, and nothing listens beyond loopback.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "distributed/cpu_cores.h"
#include "distributed/launcher.h"
#include "distributed/torch_compat.h"
#include "process_util.h"
#include "test_paths.h"
#include "test_util.h"

namespace parallax {
namespace {

using Clock = std::chrono::steady_clock;

// ddp on 2 ranks, long enough (8 epochs of 8 steps) to act on it while it trains.
std::string ddp_args(const std::string& out, int epochs = 8) {
  return std::string(PARALLAX_BINARY) +
         " train --strategy ddp --nproc 2 --model resnet20 --image-size 16 "
         "--synthetic-train 256 --synthetic-test 32 --batch-size 32 --threads 1 "
         "--timing-warmup 0 --epochs " +
         std::to_string(epochs) + " --out " + out;
}

TEST(FaultsRanks, AStoppedRankIsNamedWithinTheCollectiveTimeout) {
  testing::TempDir dir;
  testing::Child c = testing::start(ddp_args(dir / "stopped") + " --comm-timeout 6");
  ASSERT_TRUE(testing::read_until(c, "epoch 1/8", 120)) << c.output;
  const pid_t rank1 = testing::rank_pid(c.pid, 1);
  ASSERT_GT(rank1, 0);
  const auto stopped_at = Clock::now();
  ::kill(rank1, SIGSTOP);
  const int code = testing::wait_exit(c);
  const double took = std::chrono::duration<double>(Clock::now() - stopped_at).count();
  EXPECT_NE(code, 0);
  EXPECT_LE(took, 6 + 2) << c.output;  // --comm-timeout plus 2 s at most
  EXPECT_NE(c.output.find("rank 1 stopped answering"), std::string::npos) << c.output;
  EXPECT_EQ(c.output.find("rank 0 failed first"), std::string::npos) << c.output;
}

// A rank still setting up (rank 1 of a launcher's world, waiting for rank 0's store) ends at once
// on SIGTERM, as torchrun expects of a worker it stops (it waits 30 s, then kills): it does not
// wait out --comm-timeout first.
TEST(FaultsRanks, ASigtermWhileSettingUpEndsTheRankAtOnce) {
  testing::TempDir dir;
  testing::Child c =
      testing::start("env MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(free_tcp_port()) +
                     " WORLD_SIZE=2 RANK=1 " + PARALLAX_BINARY +
                     " train --strategy ddp --model resnet20 --image-size 16 --synthetic-train 64 "
                     "--synthetic-test 16 --batch-size 32 --threads 1 --comm-timeout 300 --out " +
                     (dir / "waiting"));
  ASSERT_TRUE(testing::catches_signal(c.pid, SIGTERM, 60)) << c.output;
  ::kill(c.pid, SIGTERM);
  EXPECT_EQ(testing::wait_exit(c), 128 + SIGTERM) << c.output;
}

TEST(FaultsRanks, CtrlCStopsEveryRankAsInterruptedAndResumeGoesOn) {
  testing::TempDir dir;
  const std::string run = dir / "int";
  testing::Child c = testing::start(ddp_args(run, 4));
  ASSERT_TRUE(testing::read_until(c, "epoch 1/4", 120)) << c.output;
  ::kill(c.pid, SIGINT);
  EXPECT_EQ(testing::wait_exit(c), 130) << c.output;
  EXPECT_NE(c.output.find("parallax: interrupted"), std::string::npos) << c.output;
  EXPECT_EQ(c.output.find("failed first"), std::string::npos) << c.output;
  const auto s = nlohmann::json::parse(testing::read_text(run + "/summary.json"));
  EXPECT_EQ(s["status"], "interrupted") << s.dump(1);
  const auto r = testing::run_command(std::string(PARALLAX_BINARY) + " train --resume " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(nlohmann::json::parse(testing::read_text(run + "/summary.json"))["status"], "finished");
}

TEST(FaultsRanks, SettingsAreCheckedOnceBeforeAnyRankStarts) {
  testing::TempDir dir;
  const std::string base = std::string(PARALLAX_BINARY) +
                           " train --strategy ddp --model resnet20 --image-size 16 "
                           "--synthetic-train 64 --synthetic-test 16 --out " +
                           (dir / "x");
  const std::string too_many = std::to_string(4 * cpu_cores() + 1);  // 4 per core is the limit
  const auto many = testing::run_command(base + " --nproc " + too_many + " --batch-size 32");
  EXPECT_EQ(many.exit_code, 2) << many.output;
  EXPECT_NE(many.output.find("--nproc " + too_many), std::string::npos) << many.output;
  EXPECT_NE(many.output.find("--oversubscribe"), std::string::npos) << many.output;
  const auto odd = testing::run_command(base + " --nproc 2 --batch-size 3");
  EXPECT_EQ(odd.exit_code, 2) << odd.output;
  EXPECT_EQ(odd.output.find("[rank"), std::string::npos) << odd.output;  // said once, not per rank
  EXPECT_NE(odd.output.find("2 data-parallel ranks (2)"), std::string::npos) << odd.output;
  EXPECT_EQ(odd.output.find("--accumulate"), std::string::npos) << odd.output;
}

void launcher_test_handler(int) {}

// `plan` launches its profiling ranks and goes on working in the same process: the launcher
// hands back SIGINT, SIGTERM and SIGCHLD as it found them (its own wrote to a pipe it had closed,
// so Ctrl-C no longer stopped a plan and each check's exit wrote a byte into whatever file had
// taken that descriptor).
TEST(FaultsRanks, TheLauncherPutsBackTheSignalHandlersItFound) {
  struct sigaction mine {}, before_int {}, before_term {}, before_chld {}, now {};
  mine.sa_handler = launcher_test_handler;
  ::sigemptyset(&mine.sa_mask);
  ASSERT_EQ(::sigaction(SIGINT, &mine, &before_int), 0);
  ::sigaction(SIGTERM, nullptr, &before_term);
  ::sigaction(SIGCHLD, nullptr, &before_chld);
  LaunchSpec spec;
  spec.argv = {"/bin/true"};
  spec.nproc = 2;
  EXPECT_EQ(launch_ranks(spec), 0);
  ::sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, &launcher_test_handler);
  ::sigaction(SIGTERM, nullptr, &now);
  EXPECT_EQ(now.sa_handler, before_term.sa_handler);
  ::sigaction(SIGCHLD, nullptr, &now);
  EXPECT_EQ(now.sa_handler, before_chld.sa_handler);
  ::sigaction(SIGINT, &before_int, nullptr);
}

// A rank writes where rank 0 says, through the store: only into the folder it was given itself.
// Two ranks given different --out (as a store that someone else wrote to would tell them) stop
// before writing anything, each in one line, exit code 2.
TEST(FaultsRanks, ARunFolderThatIsNotTheRanksOwnIsRefused) {
  testing::TempDir dir;
  const std::string port = std::to_string(free_tcp_port());
  auto rank = [&](int r, const std::string& out) {
    return testing::start("env RANK=" + std::to_string(r) +
                          " WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 "
                          "MASTER_PORT=" + port + " " + std::string(PARALLAX_BINARY) +
                          " train --strategy ddp --model resnet20 --image-size 8 "
                          "--synthetic-train 32 --synthetic-test 16 --batch-size 16 --steps 1 "
                          "--threads 1 --comm-timeout 60 --out " + out);
  };
  testing::Child r0 = rank(0, dir / "chosen"), r1 = rank(1, dir / "given");
  EXPECT_EQ(testing::wait_exit(r1), 2) << r1.output;
  EXPECT_EQ(testing::wait_exit(r0), 2) << r0.output;
  EXPECT_EQ(std::count(r1.output.begin(), r1.output.end(), '\n'), 1) << r1.output;
  EXPECT_NE(r1.output.find(dir / "chosen"), std::string::npos) << r1.output;
  EXPECT_NE(r1.output.find("--out " + (dir / "given")), std::string::npos) << r1.output;
  EXPECT_EQ(std::count(r0.output.begin(), r0.output.end(), '\n'), 1) << r0.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "chosen/summary.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "given/summary.json"));
}

// Local addresses of the TCP sockets listening in process `pid` (hex pairs of /proc/net/tcp*).
std::set<std::string> listening_addresses(pid_t pid) {
  std::set<std::string> inodes;
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fds, ec)) {
    const auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::set<std::string> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state == "0A" && inodes.count(inode)) out.insert(local.substr(0, local.find(':')));
    }
  }
  return out;
}

TEST(FaultsRanks, NothingListensBeyondLoopback) {
  testing::TempDir dir;
  testing::Child c = testing::start(ddp_args(dir / "listen", 4));
  ASSERT_TRUE(testing::read_until(c, "epoch 1/4", 120)) << c.output;
  std::set<std::string> seen;
  for (pid_t p : testing::children_of(c.pid))
    for (const auto& a : listening_addresses(p)) seen.insert(a);
  ::kill(c.pid, SIGINT);
  testing::wait_exit(c);
  // 0100007F is 127.0.0.1 (Gloo's pairs); 00000000 would be every interface. The rendezvous of
  // a one-node run is a FileStore and listens nowhere.
  for (const auto& a : seen) EXPECT_EQ(a, "0100007F") << "a socket listens on " << a;
}

TEST(FaultsRanks, ATcpStoreListensOnlyOnMasterAddr) {
  if (!compat::kStoreTakesBoundSocket)
    GTEST_SKIP() << "LibTorch " << compat::torch_version()
                 << "'s TCPStore always listens on every interface (the README says so)";
  testing::TempDir dir;
  // A world set up as a launcher of others would (torchrun's variables): the TCP store.
  const std::string port = std::to_string(free_tcp_port());
  auto rank = [&](int r) {
    return testing::start("env RANK=" + std::to_string(r) +
                          " WORLD_SIZE=2 LOCAL_RANK=" + std::to_string(r) +
                          " LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " +
                          std::string(PARALLAX_BINARY) +
                          " train --strategy ddp --model resnet20 --image-size 16 "
                          "--synthetic-train 256 --synthetic-test 32 --batch-size 32 "
                          "--threads 1 --epochs 4 --out " +
                          (dir / "tcp"));
  };
  testing::Child r0 = rank(0), r1 = rank(1);
  ASSERT_TRUE(testing::read_until(r0, "epoch 1/4", 120)) << r0.output;
  const auto seen = listening_addresses(r0.pid);
  ::kill(r0.pid, SIGINT);
  ::kill(r1.pid, SIGINT);
  testing::wait_exit(r0);
  testing::wait_exit(r1);
  EXPECT_FALSE(seen.empty());
  for (const auto& a : seen) EXPECT_EQ(a, "0100007F") << "a socket listens on " << a;
}

}  // namespace
}  // namespace parallax
