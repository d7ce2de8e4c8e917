// The launchers people use, started for real on loopback: torchrun (its agent's store, static and
// c10d rendezvous, two "nodes", elastic restarts after a SIGKILL), Open MPI's mpirun and Slurm's
// srun on a one-node cluster. Each run must train the same model, bitwise, as parallax's own
// launcher does with the same options.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "launcher_util.h"

namespace parallax {
namespace {

using testing::run_command;
using testing::tensors_differing;

// ResNet-20 with BatchNorm on 16x16 synthetic data: 2 epochs of 8 steps of a 16-image batch.
std::string train_options(const std::string& out) {
  return " train --model resnet20 --image-size 16 --synthetic-train 128 --synthetic-test 32 "
         "--batch-size 16 --epochs 2 --lr 0.05 --threads 1 --timing-warmup 0 --comm-timeout 60 "
         "--out " +
         out;
}

std::string binary() {
  return PARALLAX_BINARY;
}

// The same run under parallax's own launcher: the reference every other launcher must equal.
std::string reference_run(testing::TempDir& dir, const std::string& extra,
                          const std::string& name) {
  const std::string out = dir / name;
  const auto r = run_command(binary() + train_options(out) + " --nproc 2" + extra);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

nlohmann::json launched_summary(const std::string& run) {
  return nlohmann::json::parse(testing::read_text(run + "/summary.json"));
}

std::string torchrun(const std::string& args) {
  return testing::torchrun_path() + " " + args + " --no_python " + binary();
}

TEST(Launchers, TorchrunNprocPerNode2TrainsDdpAndPipelineAsParallaxsLauncher) {
  PARALLAX_NEED_TORCHRUN();
  testing::TempDir dir;
  for (const std::string strategy : {"ddp", "pipeline"}) {
    const std::string extra = " --strategy " + strategy;
    const std::string out = dir / ("torchrun-" + strategy);
    const std::string command =
        torchrun("--nproc_per_node 2 --master_port " + std::to_string(free_tcp_port())) +
        train_options(out) + extra;
    const auto r = run_command(command);
    ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
    const auto s = launched_summary(out);
    EXPECT_EQ(s["launcher"], "torchrun");
    EXPECT_EQ(s["world_size"], 2);
    EXPECT_EQ(s["status"], "finished");
    EXPECT_EQ(tensors_differing(out, reference_run(dir, extra, "ref-" + strategy)), 0) << strategy;
  }
}

TEST(Launchers, TorchrunTwoNodesStaticAndC10dRendezvousJoinOneWorld) {
  PARALLAX_NEED_TORCHRUN();
  testing::TempDir dir;
  const std::string reference = reference_run(dir, " --strategy ddp", "ref");
  // Two "nodes" of one rank each: --nnodes 2 --node-rank 0/1 (static rendezvous on the master's
  // port), both started at once and waited for.
  {
    const std::string out = dir / "static";
    const std::string port = std::to_string(free_tcp_port());
    auto node = [&](int rank) {
      return torchrun("--nnodes 2 --node_rank " + std::to_string(rank) +
                      " --nproc_per_node 1 --master_addr 127.0.0.1 --master_port " + port) +
             train_options(out) + " --strategy ddp";
    };
    const auto r = run_command(node(1) + " > " + (dir / "node1.log") + " 2>&1 & node1=$! ; " +
                               node(0) + " ; rc=$? ; wait $node1 || rc=1 ; exit $rc");
    ASSERT_EQ(r.exit_code, 0) << r.output << testing::read_text(dir / "node1.log");
    EXPECT_EQ(tensors_differing(out, reference), 0);
  }
  // c10d rendezvous: the agent's store is the rendezvous endpoint's, shared with the ranks.
  {
    const std::string out = dir / "c10d";
    const std::string command =
        torchrun("--nnodes 1 --nproc_per_node 2 --rdzv_backend c10d --rdzv_endpoint 127.0.0.1:" +
                 std::to_string(free_tcp_port())) +
        train_options(out) + " --strategy ddp";
    const auto r = run_command(command);
    ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
    EXPECT_EQ(tensors_differing(out, reference), 0);
  }
}

TEST(Launchers, TorchrunMaxRestartsResumesAfterARankIsKilledAndEndsAsAnUninterruptedRun) {
  PARALLAX_NEED_TORCHRUN();
  testing::TempDir dir;
  const std::string extra = " --strategy ddp --checkpoint-every 2";
  const std::string out = dir / "elastic";
  // Rank 1 SIGKILLs itself after step 5 of the first attempt; the last checkpoint holds 4 steps.
  const std::string command = "PARALLAX_FAULT_KILL=1:5 " +
                              torchrun("--nproc_per_node 2 --max_restarts 1 --master_port " +
                                       std::to_string(free_tcp_port())) +
                              train_options(out) + extra;
  const auto r = run_command(command);
  ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
  EXPECT_NE(r.output.find("PARALLAX_FAULT_KILL: rank 1 kills itself after step 5"),
            std::string::npos)
      << r.output;
  const auto s = launched_summary(out);
  EXPECT_EQ(s["status"], "finished");
  EXPECT_EQ(s["restarts"], 1);
  EXPECT_EQ(s["steps_redone"], 1);  // step 5, trained again from the checkpoint after step 4
  EXPECT_EQ(s["steps"], 16);
  EXPECT_EQ(tensors_differing(out, reference_run(dir, extra, "uninterrupted")), 0);
  // The run's tables hold each step and epoch once.
  const std::string steps = testing::read_text(out + "/steps.csv");
  EXPECT_EQ(std::count(steps.begin(), steps.end(), '\n'), 17) << steps;
}

TEST(Launchers, ARestartNeverTakesOverAnotherRunsFolder) {
  PARALLAX_NEED_TORCHRUN();
  testing::TempDir dir;
  // A finished run of its own in the folder that --out names: the first attempt refuses it, and
  // the restart must refuse it too rather than resume it (and exit 0 having trained nothing).
  const std::string other = reference_run(dir, " --strategy ddp", "other");
  const std::string before = testing::read_text(other + "/summary.json");
  const auto r = run_command(torchrun("--nproc_per_node 2 --max_restarts 1 --master_port " +
                                      std::to_string(free_tcp_port())) +
                             train_options(other) + " --strategy ddp");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("already holds a run"), std::string::npos) << r.output;
  EXPECT_EQ(testing::read_text(other + "/summary.json"), before);
}

TEST(Launchers, MpirunNp2TrainsDdpAsParallaxsLauncher) {
  if (!testing::on_path("mpirun"))
    GTEST_SKIP() << "mpirun not found: apt-get install openmpi-bin (scripts/install-deps.sh does)";
  testing::TempDir dir;
  const std::string out = dir / "mpi";
  // As root Open MPI needs --allow-run-as-root; --oversubscribe lets 2 ranks share fewer cores.
  const std::string command = "mpirun --allow-run-as-root --oversubscribe -np 2 " + binary() +
                              train_options(out) + " --strategy ddp --master-port " +
                              std::to_string(free_tcp_port());
  const auto r = run_command(command);
  ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
  EXPECT_EQ(launched_summary(out)["launcher"], "mpi");
  EXPECT_EQ(tensors_differing(out, reference_run(dir, " --strategy ddp", "ref")), 0);
}

TEST(Launchers, SrunN2OnAOneNodeSlurmClusterTrainsDdpAsParallaxsLauncher) {
  if (!testing::on_path("slurmctld") || !testing::on_path("slurmd") || !testing::on_path("munged"))
    GTEST_SKIP() << "Slurm not found: apt-get install slurm-wlm munge (scripts/install-deps.sh "
                    "does)";
  if (::geteuid() != 0) GTEST_SKIP() << "a one-node Slurm cluster needs root (slurmd runs tasks)";
  testing::TempDir dir;
  // munged's socket folder must be reachable by every user: every folder above it a+x.
  std::filesystem::permissions(
      dir.path(), std::filesystem::perms::others_exec | std::filesystem::perms::group_exec,
      std::filesystem::perm_options::add);
  const std::string scripts = std::string(PARALLAX_SOURCE_DIR) + "/tests/launchers/";
  const std::string cluster = dir / "slurm";
  const auto up = run_command(scripts + "slurm_cluster_start.sh " + cluster);
  ASSERT_EQ(up.exit_code, 0) << up.output;
  struct Stop {
    std::string command;
    ~Stop() { run_command(command); }
  } stop{scripts + "slurm_cluster_stop.sh " + cluster};
  const std::string out = dir / "srun";
  // No MASTER_ADDR: rank 0's host is the first of SLURM_JOB_NODELIST, this host's short name,
  // where that name resolves (a machine whose own name does not cannot test that part). A free
  // MASTER_PORT rather than the job id's (15000 + id) keeps parallel test runs apart.
  const bool name_resolves = run_command("getent hosts \"$(hostname -s)\"").exit_code == 0;
  const std::string command = std::string(name_resolves ? "" : "MASTER_ADDR=127.0.0.1 ") +
                              "SLURM_CONF=" + cluster +
                              "/slurm.conf MASTER_PORT=" + std::to_string(free_tcp_port()) +
                              " srun -n 2 " + binary() + train_options(out) + " --strategy ddp";
  const auto r = run_command(command);
  ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.output;
  EXPECT_EQ(launched_summary(out)["launcher"], "slurm");
  EXPECT_EQ(tensors_differing(out, reference_run(dir, " --strategy ddp", "ref")), 0);
}

}  // namespace
}  // namespace parallax
