// Cores by the affinity mask, so that taskset and cgroup cpusets count, not the whole machine.
#include "distributed/cpu_cores.h"

#include <sched.h>
#include <unistd.h>

namespace parallax {

int cpu_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
}

}  // namespace parallax
