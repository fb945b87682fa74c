#pragma once
// How many CPUs this process may run on: its affinity mask (taskset, cgroup
// cpusets), not the machine's count, so "one thread per core" does not put
// two busy threads on one pinned core.
#include <sched.h>

#include <algorithm>
#include <thread>

namespace gateway {

inline unsigned usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace gateway
