// System facts: the allocator is found by its symbols, so LD_PRELOAD counts as well as linking.
#include "metrics/system_info.h"

#include <torch/cuda.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "distributed/torch_compat.h"

namespace parallax {

std::string allocator_name() {
  if (dlsym(RTLD_DEFAULT, "tc_malloc") != nullptr) return "tcmalloc";
  if (dlsym(RTLD_DEFAULT, "mallctl") != nullptr) return "jemalloc";
  return "glibc";
}

std::string blas_name() {
  // LibTorch links "libblas.so.3"; Debian's alternatives decide which library that is. The
  // reference (netlib) BLAS made 1x1 convolutions on small batches 10x slower than OpenBLAS.
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return "none";
  // The loader names the library by its link (libblas.so.3); the alternative is where it points.
  char* real = realpath(info.dli_fname, nullptr);
  const std::string path = real != nullptr ? real : info.dli_fname;
  std::free(real);
  if (path.find("openblas") != std::string::npos) return "openblas";
  if (path.find("mkl") != std::string::npos) return "mkl";
  if (path.find("blis") != std::string::npos) return "blis";
  if (path.find("/blas/") != std::string::npos) return "reference";
  return path.substr(path.rfind('/') + 1);  // built into LibTorch itself (pip wheels: MKL)
}

int64_t peak_rss_bytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

std::string torch_version() {
  return compat::torch_version();
}

bool cuda_compiled() {
#if PARALLAX_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_devices() {
  return cuda_compiled() && torch::cuda::is_available()
             ? static_cast<int>(torch::cuda::device_count())
             : 0;
}

}  // namespace parallax
