#include "pipeline/request_mirror.hpp"

#include "upstream/h2_single_call.hpp"

#include <memory>

namespace gateway {

asio::awaitable<void> send_mirror(tcp::endpoint to, std::string request,
                                  std::chrono::milliseconds connect_timeout,
                                  std::chrono::milliseconds deadline, mirror_counters& counters) {
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<tcp::socket>(executor);
  // One timer bounds each phase: closing the socket ends whatever waits on it.
  asio::steady_timer timer(executor);
  auto arm = [&](std::chrono::milliseconds after) {
    timer.expires_after(after);
    timer.async_wait([socket](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed or finished
      boost::system::error_code ignored;
      socket->close(ignored);
    });
  };
  ++counters.in_flight;
  bool answered = false;
  arm(connect_timeout);
  auto [connect_error] = co_await socket->async_connect(to, use_tuple);
  if (!connect_error) {
    arm(deadline);
    auto [write_error, written] =
        co_await asio::async_write(*socket, asio::buffer(request), use_tuple);
    if (!write_error) {
      // The answer is read only to let the upstream finish; its bytes are
      // dropped, so every mirror of the thread may share one sink (which also
      // keeps the array out of the coroutine frame).
      static thread_local char sink[4096];
      for (;;) {
        auto [read_error, n] = co_await socket->async_read_some(asio::buffer(sink), use_tuple);
        if (n > 0) answered = true;
        if (read_error) break;
      }
    }
  }
  timer.cancel();
  boost::system::error_code ignored;
  socket->close(ignored);
  --counters.in_flight;
  ++(answered ? counters.sent : counters.failed);
}

asio::awaitable<void> send_mirror_h2(tcp::endpoint to, std::unique_ptr<h2_single_call> call,
                                     std::chrono::milliseconds connect_timeout,
                                     std::chrono::milliseconds deadline,
                                     mirror_counters& counters) {
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<tcp::socket>(executor);
  asio::steady_timer timer(executor);
  auto arm = [&](std::chrono::milliseconds after) {
    timer.expires_after(after);
    timer.async_wait([socket](const boost::system::error_code& ec) {
      if (ec) return;
      boost::system::error_code ignored;
      socket->close(ignored);
    });
  };
  ++counters.in_flight;
  arm(connect_timeout);
  auto [connect_error] = co_await socket->async_connect(to, use_tuple);
  if (!connect_error) {
    arm(deadline);
    co_await call->run(*socket, nullptr);
  }
  timer.cancel();
  boost::system::error_code ignored;
  socket->close(ignored);
  --counters.in_flight;
  ++(call->status().empty() ? counters.failed : counters.sent);
}

}  // namespace gateway
