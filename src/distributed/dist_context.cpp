// Rendezvous: the store (rendezvous_store.h), the process groups over it, a config check through it.
#include "distributed/dist_context.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include <functional>

#include "config/config_json.h"
#include "config/user_error.h"
#include "distributed/device.h"
#include "distributed/flight_recorder.h"
#include "distributed/process_group.h"
#include "distributed/rendezvous_store.h"

namespace parallax {
namespace {

std::string config_fingerprint(const Config& cfg) {
  nlohmann::json j = cfg;
  // Options that may differ between nodes by design: the node's index and its local paths (every
  // rank writes into rank 0's run folder, which each checks against its own --out: run_dir.h).
  for (const char* key : {"node_rank", "out", "data_dir", "resume"}) j.erase(key);
  return std::to_string(std::hash<std::string>{}(j.dump()));
}

void check_same_config(c10d::Store& store, int rank, int world, const Config& cfg) {
  auto bytes = [](const std::string& v) { return std::vector<uint8_t>(v.begin(), v.end()); };
  const std::string mine = config_fingerprint(cfg);
  if (rank == 0) {
    store.set("parallax/config", bytes(mine));
    // Rank 0 collects every verdict, so that it fails too instead of waiting for a lost rank.
    for (int r = 1; r < world; ++r) {
      std::vector<uint8_t> ok;
      try {
        ok = store.get("parallax/config_ok/" + std::to_string(r));
      } catch (const std::exception& e) {
        throw UserError("rank " + std::to_string(r) + " of " + std::to_string(world) +
                        " did not join within --comm-timeout; start every node with the same " +
                        "--nproc and --nnodes, and check that they reach --master-addr");
      }
      if (ok != bytes("1"))
        throw UserError("rank " + std::to_string(r) +
                        " runs another config than rank 0; start "
                        "every rank with the same options");
    }
    return;
  }
  const auto root = store.get("parallax/config");  // blocks until rank 0 has set it
  const bool same = std::string(root.begin(), root.end()) == mine;
  store.set("parallax/config_ok/" + std::to_string(rank), bytes(same ? "1" : "0"));
  if (!same)
    throw UserError("rank " + std::to_string(rank) +
                    " runs another config than rank 0; start "
                    "every rank with the same options");
}

}  // namespace

Topology topology_of(const Config& cfg, int world) {
  if (cfg.strategy == "ddp" || cfg.strategy == "zero") return {world, 1};
  if (cfg.strategy == "model" || cfg.strategy == "pipeline") return {1, world};
  if (cfg.strategy == "hybrid") {
    if (cfg.dp * cfg.pp != world)
      throw UserError("--dp " + std::to_string(cfg.dp) + " x --pp " + std::to_string(cfg.pp) +
                      " = " + std::to_string(cfg.dp * cfg.pp) + " ranks, but the world has " +
                      std::to_string(world) + "; give --nproc " +
                      std::to_string(cfg.dp * cfg.pp) + " (or leave it out)");
    return {cfg.dp, cfg.pp};
  }
  if (cfg.strategy == "tensor") {
    // --tp ranks split each layer; the world holds world / tp data-parallel replicas of them.
    const int tp = cfg.tp == 0 ? world : cfg.tp;
    if (world % tp != 0)
      throw UserError("--tp " + std::to_string(tp) + " does not divide the world of " +
                      std::to_string(world) + " ranks into data-parallel replicas; give --nproc " +
                      "a multiple of " + std::to_string(tp));
    return {world / tp, 1, tp};
  }
  return {1, 1};
}

DistContext make_dist_context(const Config& cfg, const std::optional<RankEnv>& env) {
  DistContext ctx;
  int local_world = 1;
  if (env) {
    ctx.rank = env->rank;
    ctx.world = env->world;
    ctx.local_rank = env->local_rank;
    local_world = env->local_world;
  }
  ctx.device = resolve_device(cfg.device, ctx.local_rank, local_world, cfg.share_gpu);
  const Topology topo = topology_of(cfg, ctx.world);
  ctx.dp_size = topo.dp;
  ctx.stages = topo.pp;
  ctx.tp_size = topo.tp;
  ctx.tp_rank = ctx.rank % topo.tp;
  ctx.dp_rank = ctx.rank / topo.tp / topo.pp;
  ctx.stage = ctx.rank / topo.tp % topo.pp;
  ctx.env = env;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.comm_timeout * 1000));
  if (env && env->elastic()) ctx.job_store = make_job_store(*env, timeout);
  if (ctx.world == 1) return ctx;

  ctx.store = make_rendezvous_store(*env, ctx.rank, ctx.world, timeout);
  try {
    check_same_config(*ctx.store, ctx.rank, ctx.world, cfg);
  } catch (const std::exception& e) {
    if (!env->agent_store) throw;
    // The agent's store speaks its own torch's wire protocol: LibTorch 1.13's client and a 2.x
    // torchrun's store fail on the first wait (measured: a timeout on one rank, a reset on the
    // other), which says nothing of the cause.
    const std::string what = e.what();
    throw UserError(what.substr(0, what.find('\n')) + " (under torchrun's store: launch this " +
                    "parallax, built against LibTorch " + compat::torch_version() +
                    ", with the torchrun of that same torch version)");
  }
  const GroupSpec spec{cfg.backend, ctx.device, env->master_addr, env->master_port, timeout};
  ctx.world_pg = make_process_group(
      spec, c10::make_intrusive<c10d::PrefixStore>("world", ctx.store), ctx.rank, ctx.world);
  // The flight recorder names each group as every rank of it does: by its store prefix.
  flight_recorder().name_group(ctx.world_pg.get(), "world");
  // Subgroups: each rank makes only the two it belongs to; the store prefix names the group.
  auto subgroup = [&](const std::string& name, int size, int rank_in_group,
                      bool may_be_world = true) -> compat::Group {
    if (size == 1) return {};
    if (size == ctx.world && may_be_world) return ctx.world_pg;
    auto group = make_process_group(spec, c10::make_intrusive<c10d::PrefixStore>(name, ctx.store),
                                    rank_in_group, size);
    flight_recorder().name_group(group.get(), name);
    return group;
  };
  const std::string pipeline = std::to_string(ctx.dp_rank);
  const std::string tp_part = ctx.tp_size > 1 ? "." + std::to_string(ctx.tp_rank) : "";
  ctx.dp_pg = subgroup("dp" + std::to_string(ctx.stage) + tp_part, ctx.dp_size, ctx.dp_rank);
  ctx.pp_pg = subgroup("pp" + pipeline, ctx.stages, ctx.stage);
  ctx.tp_pg = subgroup("tp" + pipeline + "." + std::to_string(ctx.stage), ctx.tp_size, ctx.tp_rank);
  ctx.pp_back_pg = subgroup("pp-back" + pipeline, ctx.stages, ctx.stage, /*may_be_world=*/false);
  // Two chunks or more per rank: the wrap-around links (last stage to first) too.
  if ((cfg.strategy == "pipeline" || cfg.strategy == "hybrid") &&
      (cfg.pipeline_schedule == "interleaved-1f1b" || cfg.pipeline_schedule == "zb-v")) {
    ctx.pp_reverse_pg = subgroup("pp-rev" + pipeline, ctx.stages, ctx.stage, false);
    ctx.pp_back_reverse_pg = subgroup("pp-back-rev" + pipeline, ctx.stages, ctx.stage, false);
  }
  return ctx;
}

}  // namespace parallax
