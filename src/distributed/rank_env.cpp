// Rank environment detection: torchrun first, then Slurm, then Open MPI.
#include "distributed/rank_env.h"

#include <string>

#include "config/user_error.h"

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

}  // namespace

std::optional<RankEnv> rank_env_from(const GetEnv& getenv) {
  struct Scheme {
    const char *source, *rank, *world, *local_rank, *local_world;
  };
  const Scheme schemes[] = {
      {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
      {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
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
    e.local_world = as_int(getenv, s.local_world, e.world);
    if (const char* addr = getenv("MASTER_ADDR")) e.master_addr = addr;
    e.master_port = as_int(getenv, "MASTER_PORT", e.master_port);
    if (e.world < 1 || e.rank < 0 || e.rank >= e.world)
      throw UserError(std::string(s.rank) + "=" + std::to_string(e.rank) + " with " + s.world +
                      "=" + std::to_string(e.world) + ": the rank must be in [0, world size)");
    if (e.master_port < 1 || e.master_port > 65535)
      throw UserError("MASTER_PORT=" + std::to_string(e.master_port) + ": not a TCP port");
    return e;
  }
  return std::nullopt;
}

}  // namespace parallax
