// DistContext: who this rank is, which device it drives, and its process groups (c10d).
#pragma once
#include <torch/types.h>

#include <optional>

#include "config/config.h"
#include "distributed/rank_env.h"
#include "distributed/torch_compat.h"

namespace parallax {

struct DistContext {
  int rank = 0, world = 1, local_rank = 0;
  torch::Device device = torch::kCPU;
  c10::intrusive_ptr<c10d::Store> store;  // null when world == 1
  // torchrun's agent's store, under a prefix no attempt uses: it outlives a failed attempt, so
  // the next one reads what this one left (elastic restarts). Null unless the agent hosts one.
  c10::intrusive_ptr<c10d::Store> job_store;
  std::optional<RankEnv> env;  // the launcher's world, if one started this process
  compat::Group world_pg;                 // null when world == 1: collectives return early
  // world = dp_size x stages; rank = dp_rank x stages + stage, so one pipeline's stages are
  // neighbouring ranks. dp_pg joins the ranks that hold the same stage, pp_pg one pipeline's
  // stages; each is null when its size is 1, and is world_pg when it spans the world.
  int dp_rank = 0, dp_size = 1, stage = 0, stages = 1;
  compat::Group dp_pg, pp_pg;
  // Tensor parallelism's group: the ranks that split one replica's layers, neighbours in rank
  // order (Megatron's layout: rank = (dp_rank x stages + stage) x tp_size + tp_rank). Null when
  // tp_size is 1.
  int tp_rank = 0, tp_size = 1;
  compat::Group tp_pg;
  // The pipeline's gradients flow back on a group of their own: each group then carries messages
  // in one direction only, in the same order on both ends, as NCCL's in-order point-to-point
  // streams need (activations and gradients on one group can deadlock there).
  compat::Group pp_back_pg;
  // Schedules with several chunks per rank also send the other way round (interleaved 1F1B's
  // ring back to stage 0, ZB-V's V back up): activations to a lower stage and gradients to a
  // higher one get groups of their own, so each group still carries a pair's messages one way.
  // Null unless --pipeline-schedule interleaved-1f1b or zb-v.
  compat::Group pp_reverse_pg, pp_back_reverse_pg;
  bool is_root() const { return rank == 0; }
};

// Data-parallel size x pipeline stages for a strategy on `world` ranks: ddp/zero (world x 1),
// model/pipeline (1 x world), hybrid (--dp x --pp, which must multiply to world), single (1 x 1).
struct Topology {
  int dp = 1, pp = 1, tp = 1;
};
Topology topology_of(const Config& cfg, int world);

// One rank alone when env is empty; otherwise rendezvous through a TCPStore on the master and
// a Gloo group over all ranks; then checks that every rank runs the same config, and makes the
// data-parallel and pipeline groups.
DistContext make_dist_context(const Config& cfg, const std::optional<RankEnv>& env);

}  // namespace parallax
