#include "pipeline/request_mirror.hpp"

#include <memory>

#include "upstream/h2_single_call.hpp"

namespace gateway {
namespace {

// A copy's one connection: connects to `to` within `connect_timeout`, then
// lets `exchange` (which says whether an answer came) use the socket within
// `deadline`, and counts the outcome. One timer bounds each phase: closing
// the socket ends whatever waits on it.
template <class Exchange>
asio::awaitable<void> on_own_connection(tcp::endpoint to, std::chrono::milliseconds connect_timeout,
                                        std::chrono::milliseconds deadline,
                                        mirror_counters& counters, Exchange exchange) {
  auto executor = co_await asio::this_coro::executor;
  auto socket = std::make_shared<tcp::socket>(executor);
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
    answered = co_await exchange(*socket);
  }
  timer.cancel();
  boost::system::error_code ignored;
  socket->close(ignored);
  --counters.in_flight;
  ++(answered ? counters.sent : counters.failed);
}

}  // namespace

asio::awaitable<void> send_mirror(tcp::endpoint to, std::string request,
                                  std::chrono::milliseconds connect_timeout,
                                  std::chrono::milliseconds deadline, mirror_counters& counters) {
  co_await on_own_connection(to, connect_timeout, deadline, counters,
                             [&request](tcp::socket& socket) -> asio::awaitable<bool> {
                               auto [write_error, written] = co_await asio::async_write(
                                   socket, asio::buffer(request), use_tuple);
                               if (write_error) co_return false;
                               // The answer is read only to let the upstream finish; its bytes are
                               // dropped, so every mirror of the thread may share one sink (which
                               // also keeps the array out of the coroutine frame).
                               static thread_local char sink[4096];
                               bool answered = false;
                               for (;;) {
                                 auto [read_error, n] =
                                     co_await socket.async_read_some(asio::buffer(sink), use_tuple);
                                 if (n > 0) answered = true;
                                 if (read_error) co_return answered;
                               }
                             });
}

asio::awaitable<void> send_mirror_h2(tcp::endpoint to, std::unique_ptr<h2_single_call> call,
                                     std::chrono::milliseconds connect_timeout,
                                     std::chrono::milliseconds deadline,
                                     mirror_counters& counters) {
  co_await on_own_connection(to, connect_timeout, deadline, counters,
                             [&call](tcp::socket& socket) -> asio::awaitable<bool> {
                               co_await call->run(socket, nullptr);
                               co_return !call->status().empty();
                             });
}

}  // namespace gateway
