// Rendezvous: TCPStore on rank 0's host, Gloo over it, and a config check through the store.
#include "dist/dist_context.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>

#include "config/config_json.h"
#include "config/user_error.h"
#include "dist/device.h"

namespace parallax {
namespace {

std::string config_fingerprint(const Config& cfg) {
  nlohmann::json j = cfg;
  // Options that may differ between nodes by design: the node's index and its local paths.
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

// This host's address on the route to the master: connect() on a UDP socket picks the route
// (nothing is sent). The hostname's address is not good enough: it is often 127.0.0.1.
std::string local_address_towards(const std::string& master, int port) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  if (::getaddrinfo(master.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found)
    return "";
  std::string ip;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in local{};
  socklen_t len = sizeof(local);
  if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
    char buf[INET_ADDRSTRLEN];
    if (::inet_ntop(AF_INET, &local.sin_addr, buf, sizeof(buf))) ip = buf;
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(found);
  return ip;
}

// Gloo's transport device: the interface named by GLOO_SOCKET_IFNAME (as PyTorch honours it),
// else the address that routes to the master.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master, int port) {
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"); iface && *iface)
    return c10d::ProcessGroupGloo::createDeviceForInterface(iface);
  if (master == "127.0.0.1" || master == "localhost")
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  const std::string local = local_address_towards(master, port);
  if (local.empty()) return c10d::ProcessGroupGloo::createDefaultDevice();
  return c10d::ProcessGroupGloo::createDeviceForHostname(local);
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
  gloo->devices.push_back(gloo_device(env->master_addr, env->master_port));
  gloo->threads = 1;  // one per rank: the cores belong to the intra-op pool
  ctx.world_pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
      c10::make_intrusive<c10d::PrefixStore>("world", ctx.store), ctx.rank, ctx.world, gloo);
  return ctx;
}

}  // namespace parallax
