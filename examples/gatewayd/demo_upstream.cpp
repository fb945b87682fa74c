#include "demo_upstream.hpp"

#include <thread>

#include "asio/asio.hpp"
#include "http1/chunked_decoder.hpp"
#include "http1/http1_parser.hpp"

namespace gatewayd {
namespace asio = gateway::asio;
using gateway::tcp;
using gateway::use_tuple;

namespace {
constexpr std::size_t max_echo = 1 << 20;

asio::awaitable<void> serve(tcp::socket socket, const std::string& name) {
  std::string in;
  gateway::http1::request_head head;
  gateway::http1::head_scanner scanner;
  char buf[16384];
  for (;;) {
    std::size_t end = 0;
    scanner.reset();
    while ((end = scanner.find_end(in)) == 0) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
      if (ec || in.size() > 64 * 1024) co_return;
      in.append(buf, n);
    }
    if (gateway::http1::parse_request_head(std::string_view(in).substr(0, end), head, {}) != 0)
      co_return;
    std::string report =
        name + " saw " + std::string(head.method) + " " + std::string(head.target) + "\n";
    for (const auto& h : head.headers)
      report += "  " + std::string(h.name) + ": " + std::string(h.value) + "\n";
    bool keep = head.wants_keep_alive();
    bool chunked = head.chunked;
    std::uint64_t length = head.content_length;
    in.erase(0, end);
    std::string body;
    if (chunked) {
      gateway::http1::chunked_decoder dec;
      for (bool done = false; !done;) {
        std::size_t used = 0;
        while (used < in.size()) {
          auto step = dec.decode(std::string_view(in).substr(used));
          if (step.error) co_return;
          used += step.consumed;
          body.append(step.data);
          if ((done = step.done)) break;
        }
        in.erase(0, used);
        if (done) break;
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
        if (ec || body.size() > max_echo) co_return;
        in.append(buf, n);
      }
    } else {
      if (length > max_echo) co_return;
      while (in.size() < length) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
        if (ec) co_return;
        in.append(buf, n);
      }
      body = in.substr(0, length);
      in.erase(0, length);
    }
    if (!body.empty()) report += "body: " + body + "\n";
    std::string out = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: " +
                      std::to_string(report.size()) + "\r\n" +
                      (keep ? "" : "connection: close\r\n") + "\r\n" + report;
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), use_tuple);
    if (ec || !keep) co_return;
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const std::string& name) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) co_return;
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), name), asio::detached);
  }
}
}  // namespace

struct demo_upstream::impl {
  std::string name;
  asio::io_context context{1};
  tcp::acceptor acceptor{context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::thread thread;
};

demo_upstream::demo_upstream(std::string name) : impl_(std::make_unique<impl>()) {
  impl_->name = std::move(name);
  asio::co_spawn(impl_->context, accept_loop(impl_->acceptor, impl_->name), asio::detached);
  impl_->thread = std::thread([this] { impl_->context.run(); });
}

demo_upstream::~demo_upstream() {
  impl_->context.stop();
  impl_->thread.join();
}

std::uint16_t demo_upstream::port() const {
  return impl_->acceptor.local_endpoint().port();
}

}  // namespace gatewayd
