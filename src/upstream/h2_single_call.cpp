#include "upstream/h2_single_call.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "http2/client_codec.hpp"
#include "tls/upstream_tls.hpp"

namespace gateway {

struct h2_single_call::impl final : http2::client_events {
  impl(std::string_view method, bool https, std::string_view authority, std::string_view path,
       std::span<const http::header> fields, std::string request_body)
      : codec(*this, http2::client_settings{}), body(std::move(request_body)) {
    // The codec copies the head when it is submitted, here.
    http2::request_start r;
    r.method = method;
    r.scheme = https ? "https" : "http";
    r.authority = authority;
    r.path = path;
    r.fields = fields;
    r.has_body = !body.empty();
    id = codec.request(r);
    if (id == 0) ended = true;
  }

  bool on_response_field(std::int32_t, std::string_view name, std::string_view value) override {
    if (name == ":status")
      status.assign(value);
    else if (received.size() < 64)
      received.emplace_back(name, value);
    return true;
  }
  void on_response_block(std::int32_t, bool end) override {
    if (end) ended = true;
  }
  void on_response_data(std::int32_t sid, std::string_view data) override {
    if (answer.size() < 64 * 1024) answer.append(data.substr(0, 64 * 1024 - answer.size()));
    codec.consume(sid, data.size());
  }
  void on_response_end(std::int32_t) override { ended = true; }
  void on_stream_close(std::int32_t, std::uint32_t error) override {
    ended = true;
    reset = error;
  }
  void on_goaway(std::int32_t, std::uint32_t) override {}
  read_result read_request(std::int32_t, char* out, std::size_t room) override {
    const std::size_t n = std::min(room, body.size() - sent);
    std::copy_n(body.data() + sent, n, out);
    sent += n;
    return {n, sent == body.size(), false};
  }
  std::span<const http::header> request_trailers(std::int32_t) override { return {}; }

  http2::client_codec codec;
  std::string body;
  std::size_t sent = 0;
  std::int32_t id = 0;
  bool ended = false;
  std::uint32_t reset = 0;
  std::string status;
  std::vector<std::pair<std::string, std::string>> received;
  std::string answer;
};

h2_single_call::h2_single_call(std::string_view method, bool https, std::string_view authority,
                               std::string_view path, std::span<const http::header> fields,
                               std::string body)
    : impl_(std::make_unique<impl>(method, https, authority, path, fields, std::move(body))) {}

h2_single_call::~h2_single_call() = default;

asio::awaitable<boost::system::error_code> h2_single_call::run(tcp::socket& socket,
                                                               tls::stream* tls) {
  impl& c = *impl_;
  std::string out;
  char in[4096];
  for (;;) {
    out.clear();
    if (c.codec.pending(out, 64 * 1024)) {
      const asio::const_buffer b(out.data(), out.size());
      auto [ec, n] = tls ? co_await tls->write(std::span(&b, 1))
                         : co_await asio::async_write(socket, b, use_tuple);
      if (ec) co_return ec;
    }
    if (c.ended) co_return boost::system::error_code();
    auto [ec, n] = tls ? co_await tls->read_some(asio::buffer(in))
                       : co_await socket.async_read_some(asio::buffer(in), use_tuple);
    if (n && !c.codec.receive(std::string_view(in, n))) co_return asio::error::invalid_argument;
    if (ec) co_return ec;
  }
}

bool h2_single_call::done() const noexcept {
  return impl_->ended;
}

std::string_view h2_single_call::status() const noexcept {
  return impl_->status;
}

std::optional<std::string_view> h2_single_call::field(std::string_view name) const noexcept {
  for (const auto& [n, v] : impl_->received)
    if (n == name) return std::string_view(v);
  return std::nullopt;
}

const std::vector<std::pair<std::string, std::string>>& h2_single_call::fields() const noexcept {
  return impl_->received;
}

std::string_view h2_single_call::body() const noexcept {
  return impl_->answer;
}

std::uint32_t h2_single_call::reset_code() const noexcept {
  return impl_->reset;
}

}  // namespace gateway
