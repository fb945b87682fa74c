#include "server/overload.hpp"

#include <dirent.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

// A sanitizer's allocator stands in for glibc's: it says what it holds.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes() __attribute__((weak));

namespace gateway {

namespace {

std::uint64_t resident_bytes() {
  // /proc/self/statm: size resident ... in pages.
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

std::uint64_t open_descriptors() {
  // Linux 6.2 and later give the count as the size of the directory: no
  // walk over thousands of entries (several milliseconds at 10,000).
  if (struct stat st{}; ::stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
    return static_cast<std::uint64_t>(st.st_size);
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  std::uint64_t n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n > 0 ? n - 1 : 0;  // less the directory's own descriptor
}

bool over(std::uint64_t value, std::uint64_t threshold, bool staying) noexcept {
  if (threshold == 0) return false;
  // Staying at a level takes 95% of its threshold: leaving it takes a real drop.
  return staying ? value * 20 >= threshold * 19 : value >= threshold;
}

}  // namespace

resource_sample sample_resources() {
  resource_sample s;
  if (__sanitizer_get_current_allocated_bytes) {
    s.heap = __sanitizer_get_current_allocated_bytes();
  } else {
    const struct mallinfo2 m = ::mallinfo2();
    s.heap = m.uordblks + m.hblkhd;
  }
  // Another allocator again (tcmalloc, jemalloc): the resident set is what is left to go by.
  if (s.heap == 0) s.heap = resident_bytes();
  s.descriptors = open_descriptors();
  return s;
}

overload_level judge_overload(const overload_options& o, const resource_sample& s,
                              overload_level current) noexcept {
  const bool shedding = current == overload_level::shedding;
  if (over(s.heap, o.heap_hard, shedding) || over(s.descriptors, o.descriptors_hard, shedding))
    return overload_level::shedding;
  const bool saturated = current != overload_level::normal;
  if (over(s.heap, o.heap_soft, saturated) || over(s.descriptors, o.descriptors_soft, saturated))
    return overload_level::saturated;
  return overload_level::normal;
}

overload_monitor::overload_monitor(const overload_options& o, const logger& log,
                                   std::atomic<overload_level>& level, asio::io_context* loop)
    : options_(o), log_(log), level_(level) {
  if (!o.heap_soft && !o.heap_hard && !o.descriptors_soft && !o.descriptors_hard) return;
  check();  // the level is right before the first connection is accepted
  samples_ = std::make_unique<periodic>(
      o.interval, [this] { check(); }, loop);
}

overload_monitor::~overload_monitor() = default;

void overload_monitor::check() {
  const resource_sample s = sample_resources();
  heap_.store(s.heap, std::memory_order_relaxed);
  descriptors_.store(s.descriptors, std::memory_order_relaxed);
  const overload_level was = level_.load(std::memory_order_relaxed);
  const overload_level now = judge_overload(options_, s, was);
  if (now == was) return;
  level_.store(now, std::memory_order_release);
  transitions_[static_cast<std::size_t>(now)].fetch_add(1, std::memory_order_relaxed);
  const char* what = now == overload_level::shedding
                         ? ": no new connections, keep-alive off, new requests get 503, idle "
                           "connections closed"
                     : now == overload_level::saturated ? ": no new connections, keep-alive off"
                                                        : ": serving as configured";
  log_.log(now == overload_level::normal ? log_level::info : log_level::warn,
           "overload: {} -> {} (heap {} bytes, soft {}, hard {}; descriptors {}, soft {}, hard "
           "{}){}",
           overload_names[static_cast<std::size_t>(was)],
           overload_names[static_cast<std::size_t>(now)], s.heap, options_.heap_soft,
           options_.heap_hard, s.descriptors, options_.descriptors_soft, options_.descriptors_hard,
           what);
}

}  // namespace gateway
