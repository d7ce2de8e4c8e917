// Facts about this process and machine that belong in a run's summary.
#pragma once
#include <cstdint>
#include <string>

namespace parallax {

std::string allocator_name();  // "tcmalloc", "jemalloc" or "glibc": which malloc serves us
int64_t peak_rss_bytes();      // peak resident memory of this process
std::string host_name();
int cpu_cores();  // cores this process may run on
std::string torch_version();

}  // namespace parallax
