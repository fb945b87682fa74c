#include <fmt/format.h>

#include "admin/admin_server.hpp"

#include <gateway/error.hpp>
#include <gateway/http.hpp>

#include "http1/http1_parser.hpp"
#include "http1/serializer.hpp"

namespace gateway {
namespace {
constexpr std::size_t max_admin_request = 64 * 1024;
constexpr auto admin_read_timeout = std::chrono::seconds(10);
}  // namespace

admin_server::admin_server(const std::string& address, std::uint16_t port, handler h)
    : handler_(std::move(h)) {
  boost::system::error_code ec;
  tcp::endpoint where(asio::ip::make_address(address, ec), port);
  if (ec)
    throw error(errc::bind_failed, fmt::format("admin address '{}' is not an IP address", address));
  acceptor_.open(where.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(where, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec)
    throw error(errc::bind_failed,
                fmt::format("cannot listen on admin {}:{}: {}", address, port, ec.message()));
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(context_, accept_loop(), asio::detached);
  thread_ = std::thread([this] { context_.run(); });
}

admin_server::~admin_server() {
  asio::post(context_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  context_.stop();
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<void> admin_server::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (!acceptor_.is_open()) co_return;
      continue;
    }
    asio::co_spawn(context_, serve(std::move(socket)), asio::detached);
  }
}

admin_response admin_server::call_handler(std::string_view method, std::string_view path,
                                          std::string_view body) noexcept {
  try {
    return handler_(method, path, body);
  } catch (const std::exception& e) {
    return {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
  } catch (...) {
    return {500, "text/plain; charset=utf-8", "internal error\n"};
  }
}

asio::awaitable<void> admin_server::serve(tcp::socket socket) {
  // One request per connection: admin clients (curl, Prometheus) are few.
  std::string in;
  asio::steady_timer timer(context_);
  timer.expires_after(admin_read_timeout);
  timer.async_wait([&socket](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    if (!ec) socket.close(ignored);
  });
  http1::request_head head;
  http1::head_scanner scanner;
  std::size_t end = 0;
  int status = 0;
  std::string chunk(4096, '\0');
  while ((end = scanner.find_end(in)) == 0) {
    if (in.size() > max_admin_request) {
      status = 431;
      break;
    }
    if (scanner.bare_lf()) {
      status = 400;
      break;
    }
    auto [ec, n] =
        co_await socket.async_read_some(asio::buffer(chunk.data(), chunk.size()), use_tuple);
    if (ec) {
      timer.cancel();
      co_return;
    }
    in.append(chunk.data(), n);
  }
  admin_response response;
  if (!status) status = http1::parse_request_head(std::string_view(in).substr(0, end), head, {});
  std::string body;
  if (!status && head.chunked) status = 411;  // admin bodies are small: Content-Length only
  if (!status && head.content_length > max_admin_request) status = 413;
  if (!status) {
    body = in.substr(end);
    while (body.size() < head.content_length) {
      auto [ec, n] =
          co_await socket.async_read_some(asio::buffer(chunk.data(), chunk.size()), use_tuple);
      if (ec) {
        timer.cancel();
        co_return;
      }
      body.append(chunk.data(), n);
    }
    body.resize(static_cast<std::size_t>(head.content_length));
    response = call_handler(head.method, head.path, body);
  } else {
    response = {status, "text/plain; charset=utf-8",
                std::string(http::reason_phrase(status)) + "\n"};
  }
  std::string out;
  const http::header type{"content-type", response.content_type};
  http1::write_local_reply(out, response.status, std::span(&type, 1), response.body, true,
                           head.method == "HEAD");
  co_await asio::async_write(socket, asio::buffer(out), use_tuple);
  timer.cancel();
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

}  // namespace gateway
