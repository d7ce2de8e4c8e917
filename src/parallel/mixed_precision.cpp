// MixedPrecision: the device check runs once per rank at start; the guard costs two thread-local
// writes per forward.
#include "parallel/mixed_precision.h"

#include <fstream>
#include <initializer_list>
#include <sstream>

#include "config/user_error.h"
#include "distributed/torch_compat.h"
#if PARALLAX_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace parallax {

namespace {

// Whether the first core's flags (they speak for all) name one of these.
bool cpu_flag_any(std::initializer_list<const char*> names) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0 && line.rfind("Features", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w)
      for (const char* n : names)
        if (w == n) return true;
    return false;
  }
  return false;
}

}  // namespace

bool cpu_has_bf16() {
  return cpu_flag_any({"avx512_bf16", "amx_bf16", "bf16"});
}

bool cpu_has_fp16() {
  return cpu_flag_any({"avx512fp16", "amx_fp16", "asimdhp"});
}

std::string precision_name(const std::string& precision, bool cuda) {
  return precision != "mixed" ? precision : cuda ? "fp16" : "bf16";
}

Precision precision_for(const Config& cfg, const torch::Device& device) {
  Precision p;
  const std::string name = precision_name(cfg.precision, device.is_cuda());
  p.name = name;
  if (name == "fp32") return p;
  p.autocast = true;
  p.compute = name == "bf16" ? torch::kBFloat16 : torch::kHalf;
  p.loss_scaling = name == "fp16";
  const std::string flag =
      "--precision " + cfg.precision + (cfg.precision == name ? "" : " (" + name + " here)");
  if (cfg.dtype != "fp32")
    throw UserError(flag + ": mixed precision keeps fp32 master weights; use --dtype fp32");
  if (device.is_cpu()) {
    if (name == "bf16" && !cpu_has_bf16())
      throw UserError(flag + ": this CPU has no bf16 instructions (no avx512_bf16 or amx_bf16 in "
                      "/proc/cpuinfo), so bf16 would be emulated and slower than fp32; use "
                      "--precision fp32");
    if (name == "fp16" && !compat::kCpuAutocastHalf)
      throw UserError(flag + ": LibTorch " + std::string(compat::torch_version()) +
                      " autocasts the CPU to bf16 only; use --precision bf16, a GPU, or the "
                      "LibTorch 2.x build (scripts/build.sh --torch2)");
    // It runs, through LibTorch's reference kernels: measured 10-20x slower than fp32 for
    // resnet20 on an AMD EPYC without AVX512-FP16.
    if (name == "fp16" && !cpu_has_fp16())
      p.warning = flag + ": this CPU has no fp16 arithmetic (no avx512fp16 or amx_fp16), so "
                  "LibTorch's reference kernels run its convolutions, many times slower than "
                  "fp32; bf16 is this CPU's half type";
  }
#if PARALLAX_HAVE_CUDA
  if (device.is_cuda() && name == "bf16") {
    const auto* props = at::cuda::getDeviceProperties(device.index() < 0 ? 0 : device.index());
    if (props->major < 8)
      throw UserError(flag + ": " + props->name + " (compute capability " +
                      std::to_string(props->major) + "." + std::to_string(props->minor) +
                      ") has no bf16 arithmetic (Ampere, 8.0, and later do); use --precision fp16");
  }
#endif
  return p;
}

AutocastGuard::AutocastGuard(const Precision& p, const torch::Device& device)
    : active_(p.autocast), type_(device.type()) {
  if (!active_) return;
  was_enabled_ = compat::autocast_enabled(type_);
  was_dtype_ = compat::autocast_dtype(type_);
  compat::set_autocast_dtype(type_, p.compute);
  compat::set_autocast_enabled(type_, true);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // The weights autocast cast for this forward are kept until the outermost guard ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::set_autocast_enabled(type_, was_enabled_);
  compat::set_autocast_dtype(type_, was_dtype_);
}

}  // namespace parallax
