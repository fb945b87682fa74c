#pragma once
// The admin listener: a small HTTP/1.1 server on its own thread, so health
// checks, scrapes and reloads answer even while the workers are saturated.
// What each path returns is decided by the owner through `handler`.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "asio/asio.hpp"

namespace gateway {

struct admin_response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class admin_server {
 public:
  using handler = std::function<admin_response(std::string_view method, std::string_view path,
                                               std::string_view body)>;
  // Binds `address`:`port` (0: ephemeral); throws gateway::error (bind_failed).
  admin_server(const std::string& address, std::uint16_t port, handler h);
  // Stops the thread and closes every admin connection.
  ~admin_server();
  admin_server(const admin_server&) = delete;
  admin_server& operator=(const admin_server&) = delete;

  std::uint16_t port() const noexcept { return port_; }

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket);
  // The handler's answer; an exception becomes a 500 (kept out of the coroutine).
  admin_response call_handler(std::string_view method, std::string_view path,
                              std::string_view body) noexcept;

  handler handler_;
  asio::io_context context_{1};
  tcp::acceptor acceptor_{context_};
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace gateway
