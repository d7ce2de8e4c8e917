// allocated_bytes(): tcmalloc's generic.current_allocated_bytes when tcmalloc serves malloc (looked
// up at run time, so no link dependency), else glibc's mallinfo2; CUDA's allocator statistics.
#include "metrics/heap.h"

#include <c10/core/Device.h>
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <cstddef>

#if PARALLAX_HAVE_CUDA
#include <ATen/Context.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace parallax {
namespace {

using NumericProperty = int (*)(const char*, size_t*);

NumericProperty tcmalloc_property() {
  static const auto fn = reinterpret_cast<NumericProperty>(
      dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
  return fn;
}

using AllocatedSize = size_t (*)(const void*);

AllocatedSize tcmalloc_allocated_size() {
  static const auto fn =
      reinterpret_cast<AllocatedSize>(dlsym(RTLD_DEFAULT, "MallocExtension_GetAllocatedSize"));
  return fn;
}

#if PARALLAX_HAVE_CUDA
// The caching allocator's statistics for a GPU. LibTorch sets the allocator up lazily, with the
// first CUDA tensor, and reading it before then throws ("did you call init?"): the count before
// the model is built comes first. Initialising is a call_once, cheap after the first.
auto cuda_stats(const c10::Device& device) {
  at::globalContext().lazyInitDevice(c10::DeviceType::CUDA);
  return c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
}

// Per GPU: the highest peak before the last reset_peak_allocated().
int64_t& peak_before_reset(int index) {
  static int64_t peaks[64] = {};
  return peaks[std::clamp(index, 0, 63)];
}
#endif

}  // namespace

int64_t allocation_bytes(const void* ptr, int64_t requested, const c10::Device& device) {
  if (ptr == nullptr) return 0;
  if (device.is_cuda()) return (requested + 511) / 512 * 512;
  if (auto fn = tcmalloc_allocated_size()) return static_cast<int64_t>(fn(ptr));
  return static_cast<int64_t>(malloc_usable_size(const_cast<void*>(ptr)));
}

int64_t allocated_bytes(const c10::Device& device) {
  if (device.is_cuda()) return device_memory(device).allocated;
  if (auto fn = tcmalloc_property()) {
    size_t value = 0;
    if (fn("generic.current_allocated_bytes", &value)) return static_cast<int64_t>(value);
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
#else
  return -1;
#endif
}

DeviceMemory device_memory(const c10::Device& device) {
  DeviceMemory m;
#if PARALLAX_HAVE_CUDA
  if (device.is_cuda()) {
    // Gated on CUDA, not NCCL: a CUDA LibTorch without NCCL still has the caching allocator.
    const auto stats = cuda_stats(device);
    const size_t all = 0;  // StatType::AGGREGATE
    m.allocated = stats.allocated_bytes[all].current;
    m.reserved = stats.reserved_bytes[all].current;
    m.peak_allocated = std::max(stats.allocated_bytes[all].peak, peak_before_reset(device.index()));
  }
#endif
  return m;
}

void reset_peak_allocated(const c10::Device& device) {
#if PARALLAX_HAVE_CUDA
  if (!device.is_cuda()) return;
  // The peak since the process started stays what device_memory() reports.
  const auto stats = cuda_stats(device);
  int64_t& kept = peak_before_reset(device.index());
  kept = std::max(kept, static_cast<int64_t>(stats.allocated_bytes[0].peak));
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
}

int64_t peak_allocated_in_window(const c10::Device& device) {
#if PARALLAX_HAVE_CUDA
  if (device.is_cuda())
    return cuda_stats(device).allocated_bytes[0].peak;
#endif
  return -1;
}

}  // namespace parallax
