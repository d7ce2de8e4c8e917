// The version seam: everything that differs between LibTorch 1.13 (Debian) and 2.x lives here.
#pragma once
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

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

}  // namespace parallax::compat
