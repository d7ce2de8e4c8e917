// Backends: Gloo always (Debian's LibTorch and every build); NCCL and MPI where compiled in
// (PARALLAX_HAVE_NCCL / PARALLAX_HAVE_MPI, set by CMake from the LibTorch found).
#include "distributed/process_group.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "config/user_error.h"
#include "distributed/checked_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#if PARALLAX_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if PARALLAX_HAVE_MPI
#include <torch/csrc/distributed/c10d/ProcessGroupMPI.hpp>
#endif

namespace parallax {
namespace {

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

compat::Group make_gloo(const GroupSpec& spec, const c10::intrusive_ptr<c10d::Store>& store,
                        int rank, int world) {
  auto gloo = c10d::ProcessGroupGloo::Options::create(spec.timeout);
  gloo->devices.push_back(gloo_device(spec.master_addr, spec.master_port));
  gloo->threads = 1;  // one per rank: the cores belong to the intra-op pool
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, gloo);
}

// The backend --backend names (the checking group, when asked for, goes around it).
compat::Group make_backend(const GroupSpec& spec, const c10::intrusive_ptr<c10d::Store>& store,
                           int rank, int world) {
  const bool cuda = spec.device.is_cuda();
  const std::string backend = spec.backend == "auto" ? (cuda ? "nccl" : "gloo") : spec.backend;
  if (backend == "nccl") {
#if PARALLAX_HAVE_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = spec.timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
#else
    if (spec.backend == "auto") return make_gloo(spec, store, rank, world);  // Gloo moves CUDA too
    throw UserError("--backend nccl: this LibTorch (" + std::string(compat::torch_version()) +
                    ") was built without NCCL; use --backend gloo");
#endif
  }
  if (backend == "mpi") {
#if PARALLAX_HAVE_MPI
    // MPI's group is MPI_COMM_WORLD's: it cannot be a subgroup of the ranks given here.
    auto pg = c10d::ProcessGroupMPI::createProcessGroupMPI();
    if (pg->getRank() != rank || pg->getSize() != world)
      throw UserError("--backend mpi: this group needs " + std::to_string(world) +
                      " ranks but MPI's spans " + std::to_string(pg->getSize()) +
                      "; parallax builds no MPI subgroups, so use --backend gloo or nccl for " +
                      "--strategy hybrid");
    return pg;
#else
    throw UserError("--backend mpi: this LibTorch (" + std::string(compat::torch_version()) +
                    ") was built without MPI; use --backend gloo");
#endif
  }
  return make_gloo(spec, store, rank, world);
}

}  // namespace

compat::Group make_process_group(const GroupSpec& spec, const c10::intrusive_ptr<c10d::Store>& store,
                                 int rank, int world) {
  auto group = make_backend(spec, store, rank, world);
  if (!collectives_checked()) return group;
  // The checks' own traffic: a Gloo group and a store prefix beside the checked group's.
  auto helper = make_gloo(spec, c10::make_intrusive<c10d::PrefixStore>("check", store), rank, world);
  return make_checked_group(std::move(group), std::move(helper),
                            c10::make_intrusive<c10d::PrefixStore>("check-messages", store),
                            spec.device);
}

}  // namespace parallax
