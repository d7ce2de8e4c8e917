// Bytes of memory in use by tensors on a device, for activation-memory figures: on CUDA the
// caching allocator's count, on the CPU the malloc heap's (tcmalloc's or glibc's).
#pragma once
#include <cstdint>

namespace c10 {
struct Device;
}

namespace parallax {

// -1 where the allocator cannot say.
int64_t allocated_bytes(const c10::Device& device);

}  // namespace parallax
