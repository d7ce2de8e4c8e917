// Facts about this process and machine that belong in a run's summary.
#pragma once
#include <cstdint>
#include <string>

namespace parallax {

std::string allocator_name();  // "tcmalloc", "jemalloc" or "glibc": which malloc serves us
std::string blas_name();       // "openblas", "mkl", "reference" ...: which BLAS serves sgemm
int64_t peak_rss_bytes();      // peak resident memory of this process
std::string host_name();
std::string torch_version();
bool cuda_compiled();  // this binary's LibTorch has CUDA (and parallax's CUDA paths are built)
int cuda_devices();    // GPUs visible now (0 without CUDA)
std::string git_revision();  // the source's git revision at build time ("unknown" outside git)

}  // namespace parallax
