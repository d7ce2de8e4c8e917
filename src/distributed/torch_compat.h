// The version seam: everything that differs between LibTorch 1.13 (Debian) and 2.x lives here.
#pragma once
#include <ATen/Functions.h>
#include <ATen/autocast_mode.h>
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

// Gloo's collectives take bf16 tensors from 2.2 (pytorch#113557; checked on 2.15); before, they
// fail mid-backward with "Invalid scalar type" (checked on 1.13).
constexpr bool kGlooReducesBf16 = PARALLAX_TORCH_AT_LEAST(2, 2);

// Scaled dot-product attention on [batch, heads, tokens, head width]: LibTorch 2.x's
// scaled_dot_product_attention, which picks a fused kernel (flash or memory-efficient on GPUs,
// the flash CPU kernel); 1.13 has none, and callers write the explicit form (models/gpt.cpp).
#if PARALLAX_TORCH_AT_LEAST(2, 0)
constexpr bool kHasFusedAttention = true;
inline at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  double dropout, bool causal) {
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, dropout, causal);
}
#else
constexpr bool kHasFusedAttention = false;
inline at::Tensor fused_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                  bool) {
  TORCH_CHECK(false, "LibTorch ", TORCH_VERSION, " has no scaled_dot_product_attention");
}
#endif

// Autocast per device type: 2.4 takes the device type; 1.13 has one call per type (CPU, CUDA)
// and casts the CPU to bf16 only.
#if PARALLAX_TORCH_AT_LEAST(2, 4)
constexpr bool kCpuAutocastHalf = true;
inline bool autocast_enabled(c10::DeviceType t) {
  return at::autocast::is_autocast_enabled(t);
}
inline void set_autocast_enabled(c10::DeviceType t, bool on) {
  at::autocast::set_autocast_enabled(t, on);
}
inline at::ScalarType autocast_dtype(c10::DeviceType t) {
  return at::autocast::get_autocast_dtype(t);
}
inline void set_autocast_dtype(c10::DeviceType t, at::ScalarType d) {
  at::autocast::set_autocast_dtype(t, d);
}
#else
constexpr bool kCpuAutocastHalf = false;
inline bool autocast_enabled(c10::DeviceType t) {
  return t == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
}
inline void set_autocast_enabled(c10::DeviceType t, bool on) {
  if (t == c10::DeviceType::CPU) at::autocast::set_cpu_enabled(on);
  else at::autocast::set_enabled(on);
}
inline at::ScalarType autocast_dtype(c10::DeviceType t) {
  return t == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype()
                                   : at::autocast::get_autocast_gpu_dtype();
}
inline void set_autocast_dtype(c10::DeviceType t, at::ScalarType d) {
  if (t == c10::DeviceType::CPU) at::autocast::set_autocast_cpu_dtype(d);
  else at::autocast::set_autocast_gpu_dtype(d);
}
#endif

}  // namespace parallax::compat
