// The response's way back from the upstream: its head (HTTP/1.1 parsed from
// the connection's buffer, or an HTTP/2 stream's), the route's policy on its
// fields, and the body relayed to the client piece by piece.
#include "http1/head_text.hpp"
#include "http1/serializer.hpp"
#include "pipeline/response_policy.hpp"
#include "server/worker.hpp"
#include "stream/stream.hpp"
#include "upstream/h2_connection.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
constexpr std::size_t max_response_head = 64 * 1024;
constexpr std::size_t stream_buffer_limit = 64 * 1024;
}  // namespace

void stream::start_response(bool has_length) {
  const auto& rs = response_;
  // The upstream's end-to-end fields (its connection-specific ones are its
  // codec's business), then what the route does to them.
  upstream_fields_.clear();
  for (const http::header& h : rs.headers)
    if (!http1::is_hop_by_hop(h.name, rs.connection_tokens)) upstream_fields_.push_back(h);
  response_policy_input in;
  in.upstream = upstream_fields_;
  in.upstream_version_major = rs.version_major;
  in.upstream_version_minor = rs.version_minor;
  if (rule_ && !rule_->response_headers.empty()) in.modifier = &rule_->response_headers;
  if (!cors_origin_.empty() && rule_ && rule_->cors) {
    in.cors = &*rule_->cors;
    in.cors_origin = cors_origin_;
  }
  in.set_cookie = set_cookie_;
  response_fields(in, response_fields_, response_scratch_);
  response_start start;
  start.status = rs.status;
  start.reason = rs.reason;
  start.fields = response_fields_;
  start.bodyless = is_head_request_ || rs.status == 204 || rs.status == 304;
  start.has_length = has_length;
  start.length = rs.content_length;
  down_.start_response(start);
}

asio::awaitable<bool> stream::read_response_head() {
  invalid_response_ = false;
  if (on_h2_) co_return co_await read_h2_head();
  upstream_connection& up = *upstream_;
  http1::head_scanner scanner;
  for (;;) {
    if (!up_.empty()) {
      if (std::size_t end = scanner.find_end(up_.view())) {
        response_started_ = true;
        if (http1::parse_response_head(up_.view().substr(0, end), response_, 100) != 0) {
          invalid_response_ = true;
          if (worker_.log().enabled(log_level::warn)) {
            // Its start, printable, says more than any description of it.
            std::string start(up_.view().substr(0, std::min<std::size_t>(end, 96)));
            for (char& c : start)
              if (c < 0x20 || c > 0x7e) c = '.';
            boost::system::error_code ec;
            auto from = up.socket.remote_endpoint(ec);
            worker_.log().log(log_level::warn, "upstream ", from.address().to_string(), ":",
                              from.port(), " sent a malformed response head '", start,
                              "' [request ", request_id(), "]");
          }
          co_return false;
        }
        if (response_.status >= 200) co_return true;
        if (response_.status == 101) {
          invalid_response_ = true;  // no Upgrade was forwarded, so none can be accepted
          co_return false;
        }
        // Interim responses: 100 was the client's codec's business; others
        // (103) go on where the client's protocol has them.
        if (response_.status != 100) {
          upstream_fields_.clear();
          for (const http::header& h : response_.headers)
            if (!http1::is_hop_by_hop(h.name, response_.connection_tokens))
              upstream_fields_.push_back(h);
          if (!co_await down_.send_interim(response_.status, response_.reason, upstream_fields_))
            co_return false;
        }
        up_.consume(end);
        scanner.reset();
        continue;
      }
      if (up_.size() > max_response_head || scanner.bare_lf()) {
        invalid_response_ = true;
        co_return false;
      }
    }
    std::size_t room = 0;
    char* dst = up_.prepare(room, max_response_head + 1024);
    auto [ec, n] = co_await upstream_read(up, asio::buffer(dst, room));
    if (ec) co_return false;
    up_.commit(n);
    response_started_ = true;
  }
}

asio::awaitable<bool> stream::relay_response(bool& reusable) {
  const listener_limits& limits = listener_->config.limits;
  enum class framing { none, length, chunked, until_close, h2 };
  const bool bodyless = is_head_request_ || response_.status == 204 || response_.status == 304;
  framing mode = bodyless                       ? framing::none
                 : on_h2_                       ? framing::h2
                 : response_.chunked            ? framing::chunked
                 : response_.has_content_length ? framing::length
                                                : framing::until_close;
  reusable = mode != framing::until_close && response_.wants_keep_alive();
  start_response(mode == framing::length || (mode == framing::h2 && response_.has_content_length));
  record_.status = response_.status;
  if (mode == framing::h2) {
    // DATA frames carry the body; END_STREAM (or trailers) ends it.
    for (;;) {
      std::string_view piece;
      bool end = false;
      if (!co_await next_h2_piece(piece, end)) co_return false;
      if (!piece.empty()) {
        const asio::const_buffer b(piece.data(), piece.size());
        down_.send_body(std::span(&b, 1), piece.size());
      }
      if (end) {
        response_trailers_.clear();
        h2_->trailers.append_to(response_trailers_);
        co_return co_await down_.send(true, response_trailers_);
      }
      if (!co_await down_.send(false)) co_return false;
    }
  }
  up_.consume(response_.head_size);  // the head's views are not used past this point

  // Reads more of the upstream response (HTTP/1.1 only); false at EOF or on error.
  auto fill = [&](boost::system::error_code& ec) -> asio::awaitable<bool> {
    std::size_t room = 0;
    char* dst = up_.prepare(room, stream_buffer_limit);
    watch_.arm(transport::deadline_phase::stream, limits.stream_idle_timeout);
    auto [e, n] = co_await upstream_read(*upstream_, asio::buffer(dst, room));
    ec = e;
    if (e) co_return false;
    up_.commit(n);
    co_return true;
  };
  boost::system::error_code ec;
  bool queued = true;  // the head, until the first send

  switch (mode) {
    case framing::h2:  // relayed above
    case framing::none:
      if (!up_.empty()) reusable = false;
      co_return co_await down_.send(true);
    case framing::length: {
      std::uint64_t left = response_.content_length;
      for (;;) {
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left, up_.size()));
        if (take) {
          const asio::const_buffer b(up_.view().data(), take);
          down_.send_body(std::span(&b, 1), take);
          queued = true;
        }
        left -= take;
        if (queued && !co_await down_.send(left == 0)) co_return false;
        queued = false;
        up_.consume(take);
        if (left == 0) break;
        if (!co_await fill(ec)) co_return false;  // cut short: the client sees a short body
      }
      if (!up_.empty()) reusable = false;  // bytes after the body: out of step
      co_return true;
    }
    case framing::until_close:
      for (;;) {
        if (!up_.empty()) {
          const std::size_t n = up_.size();
          const asio::const_buffer b(up_.view().data(), n);
          down_.send_body(std::span(&b, 1), n);
          queued = true;
        }
        if (queued && !co_await down_.send(false)) co_return false;
        queued = false;
        up_.clear();
        if (!co_await fill(ec)) {
          if (ec != asio::error::eof) co_return false;
          co_return co_await down_.send(true);  // the close ends the body
        }
      }
    case framing::chunked: {
      response_chunks_.reset();
      for (;;) {
        pieces_.clear();
        const http1::rechunk_result r = http1::rechunk(response_chunks_, up_.view(), pieces_);
        if (r.error) co_return false;
        if (r.data_bytes) {
          down_.send_body(pieces_, r.data_bytes);
          queued = true;
        }
        if (r.done) {
          response_trailers_.clear();
          response_chunks_.trailer_fields(response_trailers_);
          if (!co_await down_.send(true, response_trailers_)) co_return false;
          up_.consume(r.used);
          if (!up_.empty()) reusable = false;
          co_return true;
        }
        if (queued && !co_await down_.send(false)) co_return false;
        queued = false;
        up_.consume(r.used);
        if (!co_await fill(ec)) co_return false;
      }
    }
  }
  co_return false;
}

}  // namespace gateway
