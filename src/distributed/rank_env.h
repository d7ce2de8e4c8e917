// RankEnv: this process's place in a world, read from torchrun, Slurm or Open MPI variables.
#pragma once
#include <functional>
#include <optional>
#include <string>

namespace parallax {

struct RankEnv {
  int rank = 0, world = 1, local_rank = 0, local_world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source;  // "torchrun", "slurm", "mpi"
};

using GetEnv = std::function<const char*(const char*)>;

// The world this process was started into, if any launcher set one up. Pure given getenv;
// UserError on a half-set or contradictory environment (e.g. RANK >= WORLD_SIZE).
std::optional<RankEnv> rank_env_from(const GetEnv& getenv);

}  // namespace parallax
