#include "client/outbound_call.hpp"

#include <fmt/format.h>
#include <memory>

#include "http1/chunked_decoder.hpp"
#include "http1/http1_parser.hpp"
#include "http1/serializer.hpp"
#include "tls/upstream_tls.hpp"
#include "upstream/h2_single_call.hpp"

namespace gateway {

std::optional<std::string_view> outbound_response::field(std::string_view name) const noexcept {
  for (const auto& [n, v] : fields)
    if (http::iequals(n, name)) return std::string_view(v);
  return std::nullopt;
}

namespace {

constexpr std::size_t max_response_fields = 100;

// The connection of one call: its socket (closed by the deadline, which ends
// whatever waits on it) and TLS over it.
struct call_connection {
  explicit call_connection(const asio::any_io_executor& ex) : socket(ex) {}
  tcp::socket socket;
  std::unique_ptr<tls::stream> secure;
  bool timed_out = false;

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into) {
    if (secure) return secure->read_some(into);
    return socket.async_read_some(into, use_tuple);
  }
  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(
      std::span<const asio::const_buffer> data) {
    if (secure) return secure->write(data);
    return asio::async_write(socket, data, use_tuple);
  }
};

// The body kept so far; past `max`, bytes are counted as read but dropped.
void keep(outbound_response& out, std::string_view data, std::size_t max) {
  if (out.body.size() < max) out.body.append(data.substr(0, max - out.body.size()));
}

asio::awaitable<void> over_http1(call_connection& c, const outbound_request& r,
                                 outbound_response& out) {
  std::vector<http::header> fields;
  fields.reserve(r.fields.size() + 2);
  fields.push_back({"host", r.authority});
  fields.insert(fields.end(), r.fields.begin(), r.fields.end());
  fields.push_back({"connection", "close"});
  http1::request_framing framing;
  framing.has_length = !r.body.empty();
  framing.length = r.body.size();
  std::string head;
  http1::write_request_head(head, r.method, r.target, fields, framing);
  const asio::const_buffer request[2] = {asio::buffer(head), asio::buffer(r.body)};
  if (auto [ec, n] = co_await c.write(std::span(request, r.body.empty() ? 1 : 2)); ec) {
    out.why = fmt::format("request not sent: {}", ec.message());
    co_return;
  }

  std::string in;  // received, not yet used
  char chunk[4096];
  boost::system::error_code read_error;
  auto read_more = [&]() -> asio::awaitable<bool> {
    auto [ec, n] = co_await c.read_some(asio::buffer(chunk));
    in.append(chunk, n);
    read_error = ec;
    co_return n > 0 || !ec;
  };

  // The head, past any 1xx answers.
  http1::response_head parsed;
  for (;;) {
    http1::head_scanner scanner;
    std::size_t end = 0;
    while ((end = scanner.find_end(in)) == 0) {
      if (scanner.bare_lf() || in.size() > 64 * 1024) {
        out.why = "invalid response head";
        co_return;
      }
      if (!co_await read_more()) {
        out.why = in.empty() ? "no response: " + read_error.message()
                             : "response head cut short: " + read_error.message();
        co_return;
      }
    }
    if (http1::parse_response_head(std::string_view(in).substr(0, end), parsed,
                                   max_response_fields) != 0) {
      out.why = "invalid response head";
      co_return;
    }
    if (parsed.status >= 200) {
      out.status = parsed.status;
      for (const http::header& f : parsed.headers)
        out.fields.emplace_back(f.name, f.value);
      in.erase(0, end);
      break;
    }
    in.erase(0, end);
  }

  // The body, framed as the parser found.
  if (r.method == "HEAD" || out.status == 204 || out.status == 304) {
    out.complete = true;
  } else if (parsed.chunked) {
    http1::chunked_decoder decoder;
    for (;;) {
      std::string_view rest = in;
      std::size_t used = 0;
      bool done = false;
      while (!rest.empty() && !done) {
        const http1::chunked_decoder::step s = decoder.decode(rest);
        if (s.error) {
          out.why = "malformed chunked body";
          co_return;
        }
        keep(out, s.data, r.max_body);
        rest.remove_prefix(s.consumed);
        used += s.consumed;
        done = s.done;
        if (s.consumed == 0) break;
      }
      in.erase(0, used);
      if (done) {
        std::vector<http::header> trailers;
        decoder.trailer_fields(trailers);
        for (const http::header& f : trailers)
          out.fields.emplace_back(f.name, f.value);
        out.complete = true;
        break;
      }
      if (!co_await read_more()) {
        out.why = "chunked body cut short";
        co_return;
      }
    }
  } else if (parsed.has_content_length) {
    std::uint64_t left = parsed.content_length;
    for (;;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, in.size()));
      keep(out, std::string_view(in).substr(0, n), r.max_body);
      in.erase(0, n);
      left -= n;
      if (left == 0) break;
      if (!co_await read_more()) {
        out.why = "body cut short of its Content-Length";
        co_return;
      }
    }
    out.complete = true;
  } else {  // until the connection closes
    for (;;) {
      keep(out, in, r.max_body);
      in.clear();
      if (!co_await read_more()) break;
    }
    if (read_error != asio::error::eof) {
      out.why = fmt::format("body cut short: {}", read_error.message());
      co_return;
    }
    out.complete = true;
  }
}

asio::awaitable<void> over_http2(call_connection& c, const outbound_target& to,
                                 const outbound_request& r, outbound_response& out) {
  h2_single_call call(r.method, to.tls != nullptr, r.authority, r.target, r.fields,
                      std::string(r.body));
  const boost::system::error_code ec = co_await call.run(c.socket, c.secure.get());
  if (!call.status().empty()) {
    int status = 0;
    for (char ch : call.status())
      status = status * 10 + (ch - '0');
    out.status = status;
  }
  for (const auto& [name, value] : call.fields())
    out.fields.emplace_back(name, value);
  keep(out, call.body(), r.max_body);
  out.complete = call.done() && call.reset_code() == 0 && out.status != 0;
  if (out.complete) co_return;
  if (call.reset_code() != 0)
    out.why = fmt::format("stream reset (HTTP/2 error {})", call.reset_code());
  else if (ec == asio::error::invalid_argument)
    out.why = "the peer broke HTTP/2";
  else
    out.why = fmt::format("connection ended: {}", ec.message());
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Connects to `to` (TLS when it says so) and runs `exchange` on the
// connection, all within `timeout`; closes the connection after.
}  // namespace

struct outbound_access {
  static std::function<void()>& close(outbound_stopper& s) { return s.close_; }
};

namespace {

template <class Exchange>
asio::awaitable<outbound_response> on_connection(const outbound_target& to,
                                                 std::chrono::milliseconds timeout,
                                                 std::chrono::milliseconds connect_timeout,
                                                 outbound_stopper* stopper, Exchange exchange) {
  auto executor = co_await asio::this_coro::executor;
  // The deadline's handler may run after this frame is gone (queued just as
  // the call ends), so what it touches is shared.
  auto c = std::make_shared<call_connection>(executor);
  asio::steady_timer deadline(executor);
  const auto started = steady_clock::now();
  auto arm = [&](std::chrono::milliseconds after) {
    deadline.expires_at(started + after);
    deadline.async_wait([c](boost::system::error_code ec) {
      if (ec) return;  // re-armed or finished
      c->timed_out = true;
      boost::system::error_code ignored;
      c->socket.close(ignored);
    });
  };
  const bool connect_bound = connect_timeout.count() > 0 && connect_timeout < timeout;
  arm(connect_bound ? connect_timeout : timeout);
  bool stopped = false;
  if (stopper)
    outbound_access::close(*stopper) = [c, &stopped] {
      stopped = true;
      boost::system::error_code ignored;
      c->socket.close(ignored);
    };
  outbound_response out;
  auto [ec] = co_await c->socket.async_connect(to.address, use_tuple);
  if (!ec && to.tls) {
    c->secure =
        std::make_unique<tls::stream>(*to.tls, c->socket, to.server_name, to.address.address());
    if (auto hec = co_await c->secure->handshake()) {
      out.why = fmt::format("TLS handshake failed: {}", c->secure->why(hec));
      ec = hec;
    }
  }
  if (ec) {
    if (out.why.empty()) out.why = fmt::format("connect failed: {}", ec.message());
  } else {
    if (connect_bound && !c->timed_out) arm(timeout);
    co_await exchange(*c, out);
  }
  if (stopper) outbound_access::close(*stopper) = nullptr;
  deadline.cancel();
  c->secure.reset();
  boost::system::error_code ignored;
  c->socket.close(ignored);
  if (stopped && !out.complete) {
    out.why = "stopped";
  } else if (c->timed_out && !out.complete) {
    out.timed_out = true;
    out.why = "timed out";
  }
  co_return out;
}

}  // namespace

asio::awaitable<outbound_response> outbound_call(const outbound_target& to,
                                                 const outbound_request& r) {
  co_return co_await on_connection(
      to, r.timeout, r.connect_timeout, r.stopper,
      [&](call_connection& c, outbound_response& out) -> asio::awaitable<void> {
        if (to.http2)
          co_await over_http2(c, to, r, out);
        else
          co_await over_http1(c, r, out);
      });
}

asio::awaitable<outbound_response> outbound_bytes(const outbound_target& to, std::string_view send,
                                                  std::string_view receive,
                                                  std::chrono::milliseconds timeout) {
  co_return co_await on_connection(
      to, timeout, std::chrono::milliseconds(0), nullptr,
      [&](call_connection& c, outbound_response& out) -> asio::awaitable<void> {
        if (!send.empty()) {
          const asio::const_buffer b = asio::buffer(send);
          if (auto [ec, n] = co_await c.write(std::span(&b, 1)); ec) {
            out.why = fmt::format("not sent: {}", ec.message());
            co_return;
          }
        }
        char chunk[4096];
        while (out.body.find(receive) == std::string::npos) {
          if (out.body.size() > 64 * 1024) {
            out.why = "expected bytes not received";
            co_return;
          }
          auto [ec, n] = co_await c.read_some(asio::buffer(chunk));
          out.body.append(chunk, n);
          if (ec && out.body.find(receive) == std::string::npos) {
            out.why = "expected bytes not received";
            co_return;
          }
        }
        out.complete = true;
      });
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace gateway
