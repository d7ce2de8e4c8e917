// RankEnv: this process's place in a world, read from torchrun, Slurm or Open MPI variables.
#pragma once
#include <functional>
#include <optional>
#include <string>

namespace parallax {

struct RankEnv {
  int rank = 0, world = 1, local_rank = 0, local_world = 1;
  int node_rank = 0, nodes = 1;  // torchrun's GROUP_RANK/GROUP_WORLD_SIZE, Slurm's NODEID/NNODES
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source;  // "torchrun", "slurm", "mpi"
  // torchrun's elastic agent hosts the rendezvous store itself (TORCHELASTIC_USE_AGENT_STORE):
  // every rank joins it as a client, under the prefix of its attempt.
  bool agent_store = false;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: 0 in the first attempt
  int max_restarts = 0;   // TORCHELASTIC_MAX_RESTARTS (--max-restarts)
  std::string run_id;     // TORCHELASTIC_RUN_ID, where torchrun gives one
  bool elastic() const { return max_restarts > 0; }
};

using GetEnv = std::function<const char*(const char*)>;

// --master-addr/--master-port as given on the command line (empty/0: not given). Under Open MPI
// and Slurm they name rank 0's store when the environment has no MASTER_ADDR/MASTER_PORT (and win
// over it); under torchrun, torchrun's own values always hold.
struct MasterGiven {
  std::string addr;
  int port = 0;
};

// The world this process was started into, if any launcher set one up. Pure given getenv;
// UserError on a half-set or contradictory environment (e.g. RANK >= WORLD_SIZE).
// Master address without MASTER_ADDR: Slurm's first host of SLURM_STEP_NODELIST (or
// SLURM_JOB_NODELIST), else 127.0.0.1; port without MASTER_PORT: 15000 + the Slurm job id's last
// four digits, else 29500 (PyTorch's default).
std::optional<RankEnv> rank_env_from(const GetEnv& getenv, const MasterGiven& given = {});

}  // namespace parallax
