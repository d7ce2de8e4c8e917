// Rendezvous store: FileStore on one node, TCPStore across nodes (its server socket bound here).
#include "distributed/rendezvous_store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "config/user_error.h"
#include "distributed/torch_compat.h"

namespace parallax {
namespace {

std::string first_line(const std::string& text) {
  return text.substr(0, std::min(text.find('\n'), size_t{200}));
}

// A listening socket on addr:port only (not every interface), for the TCPStore server to take;
// -1 when addr is a loopback address but other nodes must reach it (a hostname that /etc/hosts
// maps to 127.0.1.1, as Debian does): the server then listens everywhere, as LibTorch's does.
int listen_on(const std::string& addr, int port, bool other_hosts) {
  const std::string where = addr + ":" + std::to_string(port);
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (::getaddrinfo(addr.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found)
    throw UserError("--master-addr " + addr + ": not a host name or address this machine can " +
                    "resolve; give rank 0's address");
  const bool loopback =
      (found->ai_family == AF_INET &&
       (ntohl(reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr.s_addr) >> 24) == 127) ||
      (found->ai_family == AF_INET6 &&
       IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr));
  if (loopback && other_hosts) {
    ::freeaddrinfo(found);
    return -1;
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  const bool ok = fd >= 0 && ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
                  ::listen(fd, SOMAXCONN) == 0;
  const int err = errno;
  ::freeaddrinfo(found);
  if (ok) return fd;
  if (fd >= 0) ::close(fd);
  if (err == EADDRINUSE)
    throw UserError("rendezvous store on " + where + " could not start: is the port in use? " +
                    "give another --master-port, or 0 for a free one");
  throw UserError("rendezvous store on " + where + " could not start (" + std::strerror(err) +
                  "); --master-addr must be an address of rank 0's host");
}

// A client of the TCPStore torchrun's agent hosts on MASTER_ADDR:MASTER_PORT.
c10::intrusive_ptr<c10d::Store> agent_store_client(const RankEnv& env,
                                                   std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = false;
  opts.timeout = timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  } catch (const std::exception& e) {
    throw UserError("cannot reach torchrun's rendezvous store at " + env.master_addr + ":" +
                    std::to_string(env.master_port) + " (" + first_line(e.what()) +
                    "); start parallax through torchrun, or unset TORCHELASTIC_USE_AGENT_STORE");
  }
}

}  // namespace

c10::intrusive_ptr<c10d::Store> make_job_store(const RankEnv& env,
                                               std::chrono::milliseconds timeout) {
  if (!env.agent_store) return {};
  return c10::make_intrusive<c10d::PrefixStore>("/parallax/job/" + env.run_id,
                                                agent_store_client(env, timeout));
}

c10::intrusive_ptr<c10d::Store> make_rendezvous_store(const RankEnv& env, int rank, int world,
                                                      std::chrono::milliseconds timeout) {
  if (const char* file = std::getenv(kStoreFileEnv); file && *file) {
    auto store = c10::make_intrusive<c10d::FileStore>(file, world);
    store->setTimeout(timeout);
    return store;
  }
  if (env.agent_store) {
    // As PyTorch's env:// rendezvous does under torchrun: each attempt (restart) meets under a
    // prefix of its own, so no key of a failed attempt is mistaken for this one's.
    return c10::make_intrusive<c10d::PrefixStore>(
        "/worker/attempt_" + std::to_string(env.restart_count), agent_store_client(env, timeout));
  }
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = rank == 0;
  opts.numWorkers = world;
  opts.timeout = timeout;
  if (rank == 0 && compat::kStoreTakesBoundSocket) {
    const int fd = listen_on(env.master_addr, env.master_port, env.world > env.local_world);
    if (fd >= 0) compat::set_listen_socket(opts, fd);
  }
  try {
    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  } catch (const std::exception& e) {
    const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
    throw UserError(
        rank == 0
            ? "rendezvous store on " + where + " could not start (" + first_line(e.what()) +
                  "); is the port in use? give another --master-port, or 0 for a free one"
            : "cannot reach rank 0's rendezvous store at " + where + " within --comm-timeout " +
                  "(" + first_line(e.what()) + "); check --master-addr and --master-port, and " +
                  "that rank 0 is running");
  }
}

}  // namespace parallax
