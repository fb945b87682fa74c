#include "http2/request_fields.hpp"

#include <algorithm>
#include <charconv>

#include "grpc/grpc_wire.hpp"

namespace gateway::http2 {

using namespace std::string_view_literals;

bool received_request::add(std::string_view name, std::string_view value, bool trailer,
                           const request_limits& limits) {
  head_bytes_ += name.size() + value.size() + 4;
  if (trailer) {
    // Trailers count toward the head's limits; pseudo-fields are not allowed
    // in them (RFC 9113 §8.1): either resets the stream.
    if (head_bytes_ > limits.max_head || name.starts_with(':')) return false;
    trailers_.add(name, value);
    return true;
  }
  if (head_bytes_ > limits.max_head || fields_.size() >= limits.max_count) {
    refused_ = 431;  // answered once the head is complete
    return true;
  }
  if (refused_) return true;
  fields_.add(name, value);
  return true;
}

void received_request::to_http1(http1::request_head& rq, bool& end) {
  rq.clear();
  rq.version_major = 2;
  rq.version_minor = 0;
  std::string_view authority, cookie_first, protocol, scheme;
  std::size_t cookies = 0;
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const auto [name, value] = fields_[i];
    if (name.starts_with(':')) {
      if (name == ":method") rq.method = value;
      if (name == ":path") rq.target = value;
      if (name == ":authority") authority = value;
      if (name == ":protocol") protocol = value;
      if (name == ":scheme") scheme = value;
      continue;
    }
    if (name == "cookie") {
      if (++cookies == 1) cookie_first = value;
      continue;  // joined below
    }
    if (name == "host" && rq.host.empty()) rq.host = value;
    if (name == "content-type") rq.grpc = grpc::is_grpc_content_type(value);
    if (name == "content-length") {
      std::uint64_t n = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), n);
      if (r.ec != std::errc() || r.ptr != value.data() + value.size() ||
          (rq.has_content_length && n != rq.content_length))
        refused_ = refused_ ? refused_ : 400;
      rq.has_content_length = true;
      rq.content_length = n;
    }
    rq.headers.push_back({name, value});
  }
  // RFC 9113 §8.2.3: cookie fields go on as one, for HTTP/1.1 upstreams.
  if (cookies == 1) {
    rq.headers.push_back({"cookie"sv, cookie_first});
  } else if (cookies > 1) {
    cookie_.clear();
    for (std::size_t i = 0; i < fields_.size(); ++i)
      if (fields_[i].name == "cookie")
        cookie_.append(cookie_.empty() ? "" : "; ").append(fields_[i].value);
    rq.headers.push_back({"cookie"sv, cookie_});
  }
  if (!authority.empty()) {
    // Filters, the WAF and header matches see the Host an HTTP/1.1 request
    // would carry (the CRS counts a request without one as an anomaly).
    if (rq.host.empty()) rq.headers.push_back({"host"sv, authority});
    rq.host = authority;
    rq.absolute_form = true;  // :authority names the target's authority (RFC 9113 §8.3.1)
  }
  if (rq.method == "CONNECT" && !protocol.empty()) {
    // RFC 8441: WebSocket on this stream, with :scheme and :path as a GET's.
    // It goes on as the HTTP/1.1 handshake (RFC 6455 §4.1) an upstream
    // expects: Upgrade, and a Sec-WebSocket-Key the client here never sends
    // (the caller makes it up).
    if (!http::iequals(protocol, "websocket") || scheme.empty()) {
      refused_ = refused_ ? refused_ : 400;
    } else {
      rq.method = "GET"sv;
      rq.upgrade = "websocket"sv;
      websocket_ = true;
      std::erase_if(rq.headers, [](const http::header& h) {
        return http::iequals(h.name, "sec-websocket-key");
      });
      rq.headers.push_back({"sec-websocket-key"sv, {websocket_key_, sizeof websocket_key_}});
      // DATA is the tunnel's, not a request body.
      end = true;
    }
  }
  // Only origin-form (and OPTIONS *) is served; CONNECT has no :path.
  if (rq.target.empty() || (rq.target.front() != '/' && rq.target != "*"))
    refused_ = refused_ ? refused_ : 400;
  const std::size_t q = rq.target.find('?');
  rq.path = rq.target.substr(0, q);
  rq.query = q == std::string_view::npos ? std::string_view() : rq.target.substr(q + 1);
  // A body of unknown length is carried as one that is "chunked" upstream.
  rq.chunked = !end && !rq.has_content_length;
  if (end && !rq.has_content_length) rq.content_length = 0;
}

}  // namespace gateway::http2
