// DistContext: who this rank is, which device it drives, and its process groups (c10d).
#pragma once
#include <torch/types.h>

#include <optional>

#include "config/config.h"
#include "dist/rank_env.h"
#include "dist/torch_compat.h"

namespace parallax {

struct DistContext {
  int rank = 0, world = 1, local_rank = 0;
  torch::Device device = torch::kCPU;
  c10::intrusive_ptr<c10d::Store> store;  // null when world == 1
  compat::Group world_pg;                 // null when world == 1: collectives return early
  bool is_root() const { return rank == 0; }
};

// One rank alone when env is empty; otherwise rendezvous through a TCPStore on the master and
// a Gloo group over all ranks; then checks that every rank runs the same config.
DistContext make_dist_context(const Config& cfg, const std::optional<RankEnv>& env);

}  // namespace parallax
