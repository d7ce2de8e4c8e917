// MixedPrecision: --precision as the strategies apply it. Autocast runs the forward's
// convolutions and matrix products in bf16 or fp16, while parameters (the master weights),
// gradients and optimizer state stay in the model's dtype. fp16 adds a dynamic loss scale
// (optim/loss_scaler.h): the loss is multiplied by it before backward and the gradients divided
// by it before the update, which a step whose gradients overflowed skips.
#pragma once
#include <torch/types.h>

#include <string>

#include "config/config.h"

namespace parallax {

struct Precision {
  bool autocast = false;                          // fp32: none
  torch::ScalarType compute = torch::kFloat;      // the autocast dtype (bf16 or fp16)
  bool loss_scaling = false;                      // fp16
  std::string name = "fp32";
  std::string warning;  // a line for the user where the device runs it, but slowly
};

// --precision's name on this device: mixed is fp16 on a GPU, bf16 on a CPU; the others stay.
std::string precision_name(const std::string& precision, bool cuda);

// --precision for this device; UserError in one line where the device cannot run it (a CPU
// without bf16 instructions, fp16 on a CPU with LibTorch 1.13, bf16 on a GPU before Ampere), or
// with --dtype fp64 (autocast casts only fp32).
Precision precision_for(const Config& cfg, const torch::Device& device);

// Whether this CPU has bf16 arithmetic (x86: AVX512_BF16 or AMX-BF16; Arm: BF16), from
// /proc/cpuinfo. Without it, autocast's bf16 kernels are emulated and slower than fp32.
bool cpu_has_bf16();
// The same for fp16 arithmetic (x86: AVX512_FP16 or AMX-FP16; Arm: FP16 in its vector unit).
bool cpu_has_fp16();

// Autocast on `device`'s type for its lifetime, with `p`'s dtype (nothing if p.autocast is
// false). On leaving the outermost one, autocast's cache of casted weights is cleared, as
// torch.autocast does. Forward and loss only: backward runs outside it.
class AutocastGuard {
 public:
  AutocastGuard(const Precision& p, const torch::Device& device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_;
  bool was_enabled_ = false;
  torch::ScalarType was_dtype_ = torch::kFloat;
};

}  // namespace parallax
