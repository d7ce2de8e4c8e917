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

// The bytes the allocator set aside for one allocation of `requested` bytes at `ptr`: on the CPU
// tcmalloc's (or glibc's) own figure for that block, unaffected by what other threads allocate
// meanwhile; on CUDA the caching allocator's 512-byte rounding of the request.
int64_t allocation_bytes(const void* ptr, int64_t requested, const c10::Device& device);

// The CUDA caching allocator's figures for a GPU (allocated by tensors, reserved from the driver,
// peak allocated since the process started); all -1 off CUDA or in a LibTorch without CUDA.
struct DeviceMemory {
  int64_t allocated = -1, reserved = -1, peak_allocated = -1;
};
DeviceMemory device_memory(const c10::Device& device);
// Starts a window for peak_allocated_in_window() at the current figure (CUDA; a no-op elsewhere).
// device_memory()'s peak_allocated stays the process's.
void reset_peak_allocated(const c10::Device& device);
// The most bytes allocated at once since the last reset_peak_allocated() (a probed step's peak);
// -1 off CUDA.
int64_t peak_allocated_in_window(const c10::Device& device);

}  // namespace parallax
