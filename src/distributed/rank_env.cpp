// Rank environment detection: torchrun first, then Slurm, then Open MPI.
#include "distributed/rank_env.h"

#include <algorithm>
#include <string>

#include "config/user_error.h"
#include "distributed/slurm_env.h"

namespace parallax {
namespace {

int as_int(const GetEnv& getenv, const char* name, int fallback) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  try {
    size_t used = 0;
    const int n = std::stoi(v, &used);
    if (used == std::string(v).size()) return n;
  } catch (const std::exception&) {
  }
  throw UserError(std::string(name) + "=" + v + ": not a whole number");
}

std::string text(const GetEnv& getenv, const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

// Slurm: the node's task count and the master host, from Slurm's own formats.
void read_slurm(const GetEnv& getenv, RankEnv& e) {
  e.node_rank = as_int(getenv, "SLURM_NODEID", 0);
  e.nodes = as_int(getenv, "SLURM_NNODES", as_int(getenv, "SLURM_JOB_NUM_NODES", 1));
  // SLURM_NTASKS_PER_NODE is set only with --ntasks-per-node; the step's own layout always is.
  std::string per_node = text(getenv, "SLURM_STEP_TASKS_PER_NODE");
  if (per_node.empty()) per_node = text(getenv, "SLURM_TASKS_PER_NODE");
  if (getenv("SLURM_NTASKS_PER_NODE") != nullptr) {
    e.local_world = as_int(getenv, "SLURM_NTASKS_PER_NODE", e.world);
  } else if (!per_node.empty()) {
    const auto counts = expand_slurm_tasks_per_node(per_node);
    e.local_world = counts.at(std::min<size_t>(e.node_rank, counts.size() - 1));
  } else {
    e.local_world = e.nodes == 1 ? e.world : 1;
  }
  std::string nodes = text(getenv, "SLURM_STEP_NODELIST");
  if (nodes.empty()) nodes = text(getenv, "SLURM_JOB_NODELIST");
  if (nodes.empty()) nodes = text(getenv, "SLURM_NODELIST");
  if (!nodes.empty()) e.master_addr = expand_slurm_nodelist(nodes).front();
  e.master_port = slurm_default_port(text(getenv, "SLURM_JOB_ID"));
}

}  // namespace

std::optional<RankEnv> rank_env_from(const GetEnv& getenv, const MasterGiven& given) {
  struct Scheme {
    const char *source, *rank, *world, *local_rank, *local_world;
  };
  const Scheme schemes[] = {
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr},
      {"mpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
       "OMPI_COMM_WORLD_LOCAL_SIZE"},
  };
  for (const Scheme& s : schemes) {
    if (getenv(s.rank) == nullptr || getenv(s.world) == nullptr) continue;
    RankEnv e;
    e.source = s.source;
    e.rank = as_int(getenv, s.rank, 0);
    e.world = as_int(getenv, s.world, 1);
    e.local_rank = as_int(getenv, s.local_rank, e.rank);
    const bool torchrun = e.source == "torchrun";
    if (e.source == "slurm") {
      read_slurm(getenv, e);
    } else {
      e.local_world = as_int(getenv, s.local_world, e.world);
    }
    if (torchrun) {
      e.node_rank = as_int(getenv, "GROUP_RANK", 0);
      e.nodes = as_int(getenv, "GROUP_WORLD_SIZE", e.world / std::max(1, e.local_world));
      e.agent_store = text(getenv, "TORCHELASTIC_USE_AGENT_STORE") == "True";
      e.restart_count = as_int(getenv, "TORCHELASTIC_RESTART_COUNT", 0);
      e.max_restarts = as_int(getenv, "TORCHELASTIC_MAX_RESTARTS", 0);
      e.run_id = text(getenv, "TORCHELASTIC_RUN_ID");
    }  // Open MPI names no node index (OMPI_COMM_WORLD_NODE_RANK is a rank within the node)
    // The store's address: torchrun's always; otherwise the command line's, then MASTER_*,
    // then the launcher's own default (read above).
    if (const char* addr = getenv("MASTER_ADDR"); addr && *addr) e.master_addr = addr;
    e.master_port = as_int(getenv, "MASTER_PORT", e.master_port);
    if (!torchrun && !given.addr.empty()) e.master_addr = given.addr;
    if (!torchrun && given.port != 0) e.master_port = given.port;
    if (e.world < 1 || e.rank < 0 || e.rank >= e.world)
      throw UserError(std::string(s.rank) + "=" + std::to_string(e.rank) + " with " + s.world +
                      "=" + std::to_string(e.world) + ": the rank must be in [0, world size)");
    if (e.local_world < 1 || e.local_rank < 0 || e.local_rank >= e.local_world)
      throw UserError(std::string(s.local_rank ? s.local_rank : "local rank") + "=" +
                      std::to_string(e.local_rank) + " with " + std::to_string(e.local_world) +
                      " tasks on this node: the local rank must be below it; check the " +
                      "launcher's variables");
    if (e.master_port < 1 || e.master_port > 65535)
      throw UserError("MASTER_PORT=" + std::to_string(e.master_port) + ": not a TCP port");
    return e;
  }
  return std::nullopt;
}

}  // namespace parallax
