#pragma once
// Asio as the library uses it: coroutines, TCP and timers, errors as values.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace gateway {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady_clock = std::chrono::steady_clock;
// Completion token that returns (error_code, results...) instead of throwing.
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}  // namespace gateway
