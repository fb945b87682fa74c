#pragma once
// The overload manager: it samples the process's heap in use and open
// descriptors and sets the level the workers act on (accepting, keep-alive,
// shedding). Workers only read one atomic. It samples on a thread of its own,
// or, for a gateway mounted on a host's loop, on that loop: a sample takes a
// few microseconds, and a process that runs its one worker on its main thread
// then starts no other thread for it.
#include <gateway/server.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

#include "asio/asio.hpp"

#include "core/logger.hpp"
#include "server/periodic.hpp"

namespace gateway {

enum class overload_level : std::uint8_t {
  normal,     // serving as configured
  saturated,  // a soft threshold passed: no new connections, no keep-alive
  shedding,   // a hard threshold passed: also 503 for new requests, idle connections closed
};
inline constexpr std::array<const char*, 3> overload_names = {"normal", "saturated", "shedding"};

// What the monitor measured last.
struct resource_sample {
  std::uint64_t heap = 0;         // bytes in use (see overload_options::heap_soft)
  std::uint64_t descriptors = 0;  // open file descriptors
};

// Measures the process now (not for a hot path: it reads /proc/self).
resource_sample sample_resources();

// The level `s` puts a process at `current` in: a threshold passed raises
// it; it goes back down once every value is 5% under the thresholds of the
// level it is at (so a value hovering at a threshold does not flap).
overload_level judge_overload(const overload_options& o, const resource_sample& s,
                              overload_level current) noexcept;

class overload_monitor {
 public:
  // Starts sampling into `level` (read by the workers) when `o` watches
  // anything; otherwise does nothing and `level` stays normal. With `loop`,
  // the samples are taken there (a timer) instead of on a thread; the
  // monitor may still be destroyed from any thread.
  overload_monitor(const overload_options& o, const logger& log, std::atomic<overload_level>& level,
                   asio::io_context* loop = nullptr);
  ~overload_monitor();
  overload_monitor(const overload_monitor&) = delete;
  overload_monitor& operator=(const overload_monitor&) = delete;

  // For the metrics: the last sample and the transitions into each level.
  resource_sample last() const noexcept {
    return {heap_.load(std::memory_order_relaxed), descriptors_.load(std::memory_order_relaxed)};
  }
  std::uint64_t transitions(overload_level to) const noexcept {
    return transitions_[static_cast<std::size_t>(to)].load(std::memory_order_relaxed);
  }

 private:
  void check();

  const overload_options options_;
  const logger& log_;
  std::atomic<overload_level>& level_;
  std::atomic<std::uint64_t> heap_{0}, descriptors_{0};
  std::array<std::atomic<std::uint64_t>, 3> transitions_{};
  std::unique_ptr<periodic> samples_;  // last: stopped before the rest goes
};

}  // namespace gateway
