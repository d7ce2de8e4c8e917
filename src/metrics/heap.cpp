// allocated_bytes(): tcmalloc's generic.current_allocated_bytes when tcmalloc serves malloc (looked
// up at run time, so no link dependency), else glibc's mallinfo2; CUDA's allocator statistics.
#include "metrics/heap.h"

#include <c10/core/Device.h>
#include <dlfcn.h>
#include <malloc.h>

#include <cstddef>

#if PARALLAX_HAVE_NCCL
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

}  // namespace

int64_t allocated_bytes(const c10::Device& device) {
  if (device.is_cuda()) {
#if PARALLAX_HAVE_NCCL
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[0].current;  // StatType::AGGREGATE
#else
    return -1;
#endif
  }
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

}  // namespace parallax
