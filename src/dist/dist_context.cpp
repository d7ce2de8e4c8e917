// Rendezvous: TCPStore on rank 0's host, Gloo over it, and a config check through the store.
#include "dist/dist_context.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <functional>

#include "config/config_json.h"
#include "config/user_error.h"
#include "dist/device.h"

namespace parallax {
namespace {

std::string config_fingerprint(const Config& cfg) {
  nlohmann::json j = cfg;
  j.erase("node_rank");  // the one option that differs between nodes by design
  return std::to_string(std::hash<std::string>{}(j.dump()));
}

void check_same_config(c10d::Store& store, int rank, int world, const Config& cfg) {
  auto bytes = [](const std::string& v) { return std::vector<uint8_t>(v.begin(), v.end()); };
  const std::string mine = config_fingerprint(cfg);
  if (rank == 0) {
    store.set("parallax/config", bytes(mine));
    // Rank 0 collects every verdict, so that it fails too instead of waiting for a lost rank.
    for (int r = 1; r < world; ++r) {
      const auto ok = store.get("parallax/config_ok/" + std::to_string(r));
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

DistContext make_dist_context(const Config& cfg, const std::optional<RankEnv>& env) {
  DistContext ctx;
  if (env) {
    ctx.rank = env->rank;
    ctx.world = env->world;
    ctx.local_rank = env->local_rank;
  }
  ctx.device = resolve_device(cfg.device, ctx.local_rank);
  if (ctx.world == 1) return ctx;

  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.comm_timeout * 1000));
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env->master_port);
  opts.isServer = ctx.rank == 0;
  opts.numWorkers = ctx.world;
  opts.timeout = timeout;
  try {
    ctx.store = c10::make_intrusive<c10d::TCPStore>(env->master_addr, opts);
  } catch (const std::exception& e) {
    throw UserError("rendezvous with " + env->master_addr + ":" + std::to_string(env->master_port) +
                    " failed (" + std::string(e.what()).substr(0, 160) + "); check --master-addr " +
                    "and --master-port (is the port free on rank 0's host?)");
  }
  check_same_config(*ctx.store, ctx.rank, ctx.world, cfg);

  auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
  const bool loopback = env->master_addr == "127.0.0.1" || env->master_addr == "localhost";
  gloo->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                   : c10d::ProcessGroupGloo::createDefaultDevice());
  gloo->threads = 1;  // one per rank: the cores belong to the intra-op pool
  ctx.world_pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
      c10::make_intrusive<c10d::PrefixStore>("world", ctx.store), ctx.rank, ctx.world, gloo);
  return ctx;
}

}  // namespace parallax
