// The launchers' environments as they really set them: torchrun's agent (static and c10d), Slurm's
// own formats (host lists, task counts; the values below are those srun -n 2 set on a one-node
// cluster) and Open MPI's, and the one-line errors for environments that contradict themselves.
#include <gtest/gtest.h>

#include <map>

#include "distributed/rank_env.h"
#include "distributed/slurm_env.h"
#include "test_util.h"

namespace parallax {
namespace {

using Env = std::map<std::string, std::string>;

std::optional<RankEnv> from(const Env& env, const MasterGiven& given = {}) {
  return rank_env_from(
      [&](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      given);
}

TEST(SlurmEnv, HostListsExpandAsScontrolShowHostnames) {
  using V = std::vector<std::string>;
  EXPECT_EQ(expand_slurm_nodelist("vm"), V{"vm"});
  EXPECT_EQ(expand_slurm_nodelist("node[01-04]"), (V{"node01", "node02", "node03", "node04"}));
  EXPECT_EQ(expand_slurm_nodelist("node[01-02,07],gpu7"),
            (V{"node01", "node02", "node07", "gpu7"}));
  EXPECT_EQ(expand_slurm_nodelist("gpu-[8-10]-ib"), (V{"gpu-8-ib", "gpu-9-ib", "gpu-10-ib"}));
  EXPECT_EQ(expand_slurm_nodelist("r[1-2]n[3,5]"), (V{"r1n3", "r1n5", "r2n3", "r2n5"}));
  EXPECT_EQ(expand_slurm_nodelist("a[098-100]"), (V{"a098", "a099", "a100"}));
  testing::expect_user_error([] { expand_slurm_nodelist("node[01-04"); },
                             {"node[01-04", "MASTER_ADDR"});
  testing::expect_user_error([] { expand_slurm_nodelist("node[4-1]"); }, {"runs backwards"});
  testing::expect_user_error([] { expand_slurm_nodelist("node[a-b]"); }, {"not a number"});
}

TEST(SlurmEnv, TasksPerNodeAndDefaultPort) {
  EXPECT_EQ(expand_slurm_tasks_per_node("2(x3),1"), (std::vector<int>{2, 2, 2, 1}));
  EXPECT_EQ(expand_slurm_tasks_per_node("4"), (std::vector<int>{4}));
  testing::expect_user_error([] { expand_slurm_tasks_per_node("2(x"); },
                             {"SLURM_TASKS_PER_NODE=2(x"});
  EXPECT_EQ(slurm_default_port("1"), 15001);
  EXPECT_EQ(slurm_default_port("4812345"), 17345);  // 15000 + the last four digits
}

TEST(RankEnv, SrunTwoTasksOnOneNode) {
  // What srun -n 2 set for task 1 (Slurm 22.05 one-node cluster); no MASTER_* at all.
  const Env env{{"SLURM_PROCID", "1"},         {"SLURM_NTASKS", "2"},
                {"SLURM_LOCALID", "1"},        {"SLURM_NODEID", "0"},
                {"SLURM_NNODES", "1"},         {"SLURM_JOB_ID", "12"},
                {"SLURM_JOB_NODELIST", "vm"},  {"SLURM_STEP_NODELIST", "vm"},
                {"SLURM_TASKS_PER_NODE", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "2"}};
  const auto e = from(env);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, "slurm");
  EXPECT_EQ(e->rank, 1);
  EXPECT_EQ(e->world, 2);
  EXPECT_EQ(e->local_rank, 1);
  EXPECT_EQ(e->local_world, 2);
  EXPECT_EQ(e->master_addr, "vm");
  EXPECT_EQ(e->master_port, 15012);
}

TEST(RankEnv, SrunAcrossNodesTakesTheFirstHostAndThisNodesTaskCount) {
  const Env env{{"SLURM_PROCID", "9"},
                {"SLURM_NTASKS", "10"},
                {"SLURM_LOCALID", "1"},
                {"SLURM_NODEID", "2"},
                {"SLURM_NNODES", "3"},
                {"SLURM_JOB_ID", "777"},
                {"SLURM_JOB_NODELIST", "node[07-09]"},
                {"SLURM_STEP_TASKS_PER_NODE", "4(x2),2"}};
  auto e = from(env);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->master_addr, "node07");
  EXPECT_EQ(e->local_world, 2);
  EXPECT_EQ(e->node_rank, 2);
  EXPECT_EQ(e->nodes, 3);
  // MASTER_ADDR/MASTER_PORT win over the derived ones; --master-addr/--master-port over both.
  Env with_master = env;
  with_master["MASTER_ADDR"] = "10.0.0.5";
  with_master["MASTER_PORT"] = "29600";
  e = from(with_master);
  EXPECT_EQ(e->master_addr, "10.0.0.5");
  EXPECT_EQ(e->master_port, 29600);
  e = from(with_master, {"10.0.0.9", 31000});
  EXPECT_EQ(e->master_addr, "10.0.0.9");
  EXPECT_EQ(e->master_port, 31000);
}

TEST(RankEnv, TorchrunsAgentStoreAttemptAndNodes) {
  const Env env{{"RANK", "3"},
                {"WORLD_SIZE", "4"},
                {"LOCAL_RANK", "1"},
                {"LOCAL_WORLD_SIZE", "2"},
                {"GROUP_RANK", "1"},
                {"GROUP_WORLD_SIZE", "2"},
                {"MASTER_ADDR", "127.0.0.1"},
                {"MASTER_PORT", "29555"},
                {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                {"TORCHELASTIC_RESTART_COUNT", "2"},
                {"TORCHELASTIC_MAX_RESTARTS", "3"},
                {"TORCHELASTIC_RUN_ID", "job7"}};
  const auto e = from(env, {"10.1.1.1", 1234});  // torchrun's own address always holds
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, "torchrun");
  EXPECT_TRUE(e->agent_store);
  EXPECT_EQ(e->restart_count, 2);
  EXPECT_TRUE(e->elastic());
  EXPECT_EQ(e->node_rank, 1);
  EXPECT_EQ(e->nodes, 2);
  EXPECT_EQ(e->local_world, 2);
  EXPECT_EQ(e->master_addr, "127.0.0.1");
  EXPECT_EQ(e->master_port, 29555);
  EXPECT_EQ(e->run_id, "job7");
}

TEST(RankEnv, OpenMpiTakesTheCommandLinesMasterElsePytorchsDefault) {
  const Env env{{"OMPI_COMM_WORLD_RANK", "0"},
                {"OMPI_COMM_WORLD_SIZE", "2"},
                {"OMPI_COMM_WORLD_LOCAL_RANK", "0"},
                {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}};
  auto e = from(env);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->source, "mpi");
  EXPECT_EQ(e->master_addr, "127.0.0.1");
  EXPECT_EQ(e->master_port, 29500);
  EXPECT_FALSE(e->elastic());
  e = from(env, {"", 40000});
  EXPECT_EQ(e->master_port, 40000);
}

TEST(RankEnv, ContradictionsAreOneLine) {
  testing::expect_user_error(
      [] {
        from({{"RANK", "2"}, {"WORLD_SIZE", "2"}});
      },
      {"RANK=2", "WORLD_SIZE=2"});
  testing::expect_user_error(
      [] {
        from({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "3"}, {"LOCAL_WORLD_SIZE", "2"}});
      },
      {"LOCAL_RANK=3"});
  testing::expect_user_error(
      [] {
        from({{"RANK", "x"}, {"WORLD_SIZE", "2"}});
      },
      {"RANK=x: not a whole number"});
  EXPECT_FALSE(from({}));
}

}  // namespace
}  // namespace parallax
