#pragma once
// Asio as the library uses it: coroutines, TCP (and UDP for DNS) and timers,
// errors as values.
#include <time.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace gateway {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using steady_clock = std::chrono::steady_clock;
// Completion token that returns (error_code, results...) instead of throwing.
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// steady_clock::now() to within a scheduler tick (a few ms) at a fraction of
// the cost: CLOCK_MONOTONIC_COARSE is the clock steady_clock reads on Linux,
// without the precise part. Good for deadlines set several times per request.
inline steady_clock::time_point coarse_now() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return steady_clock::time_point(std::chrono::seconds(ts.tv_sec) +
                                  std::chrono::nanoseconds(ts.tv_nsec));
}
}  // namespace gateway
