// The version seam: everything that differs between LibTorch 1.13 (Debian) and 2.x lives here.
#pragma once
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#define PARALLAX_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||           \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace parallax::compat {

// The LibTorch this binary was compiled against, e.g. "1.13.0".
inline const char* torch_version() {
  return TORCH_VERSION;
}

// In 1.13 each backend (Gloo, NCCL, MPI) is a c10d::ProcessGroup; from 2.0 it is a c10d::Backend
// behind a ProcessGroup facade. parallax talks to the backend object directly: the collective
// calls (allreduce, broadcast, allgather, reduce_scatter, send, recv, barrier) read the same.
#if PARALLAX_TORCH_AT_LEAST(2, 0)
using Backend = c10d::Backend;
#else
using Backend = c10d::ProcessGroup;
#endif
using Group = c10::intrusive_ptr<Backend>;
using Work = c10::intrusive_ptr<c10d::Work>;

// From 2.8 the TCPStore server (its default libuv backend included) takes a socket already bound
// (TCPStoreOptions::masterListenFd), so parallax binds it to --master-addr alone; 2.4-2.7's libuv
// backend refuses one, and 1.13's server listens on every interface.
#if PARALLAX_TORCH_AT_LEAST(2, 8)
constexpr bool kStoreTakesBoundSocket = true;
inline void set_listen_socket(c10d::TCPStoreOptions& opts, int fd) {
  opts.masterListenFd = fd;
}
#else
constexpr bool kStoreTakesBoundSocket = false;
inline void set_listen_socket(c10d::TCPStoreOptions&, int) {}
#endif

}  // namespace parallax::compat
