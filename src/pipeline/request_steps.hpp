#pragma once
// The decisions a request goes through that need no I/O: routing on a
// listener, the head the upstream gets, the bytes of a local reply. A
// connection makes them while it serves a request, and an in-process
// evaluation makes the same ones, so the two cannot disagree.
#include <gateway/router.hpp>

#include <chrono>
#include <string>
#include <string_view>

#include "http1/http1_parser.hpp"
#include "pipeline/request_normalizer.hpp"
#include "server/snapshot.hpp"
#include "stream/cookies.hpp"
#include "stream/owned_fields.hpp"

namespace re2 {
class RE2;
}

namespace gateway {

// What the gateway does with a request before routing: which listener takes
// it and whether it may be routed at all.
struct admission {
  const listener_runtime* chosen = nullptr;    // null: no listener takes the Host
  const listener_runtime* listener = nullptr;  // chosen, else the fallback (for its settings)
  normalize_result normalized = normalize_result::ok;
};

// Admits a parsed request on a socket group: a request without Host
// (HTTP/1.0) gets `assumed_authority` (the address it arrived on) so that it
// is routed and forwarded with one authority, the listener is chosen by Host
// (`fallback` when none matches), and the request normalised by that
// listener's rules (`target_buf` may then hold its target).
admission admit_request(const snapshot& snap, const socket_group& group,
                        const listener_runtime& fallback, http1::request_head& rq,
                        std::string_view assumed_authority, std::string& target_buf);

// The body of the 400 for a request normalize_request refused.
inline constexpr std::string_view refused_request_body =
    "request refused: a malformed path escape, an escaped slash or a header name with an "
    "underscore\n";

// What routing a request head on a listener decided.
struct route_plan {
  route_selection selection;
  std::string_view path;                  // the path routed on (normalised already)
  std::string_view matched_prefix = "/";  // the PathPrefix that selected the rule
  const re2::RE2* path_regex = nullptr;   // the rule's RegularExpression match, if any
  const resolved_rule* resolved = nullptr;
  std::chrono::milliseconds request_timeout{0};  // all tries together
  std::chrono::milliseconds try_timeout{0};      // one try
  bool cors_preflight = false;                   // an allowed preflight, answered 204
};

// Routes `rq`, normalised by normalize_request, on `lr` (`routable` false: no
// listener takes the Host, so no route). A rule whose backends carry filters
// is served by the backend variant `ticket` (random bits) picks by weight.
// `fields` gets (in place of what it held) a redirect's Location or a
// preflight's CORS fields, made in `scratch`; `cors_origin` the Origin when
// the rule's CORS policy allows it.
route_plan plan_route(const listener_runtime& lr, bool routable, const http1::request_head& rq,
                      bool https, std::uint64_t ticket, owned_fields& fields, std::string& scratch,
                      std::string& cors_origin);

// What the upstream head is made from.
struct upstream_head_input {
  const http1::request_head* request = nullptr;  // with the filters' edits
  std::string_view path;                         // normalised (the request's own)
  bool query_replaced = false;                   // a filter set the query (request->query)
  std::string_view matched_prefix;
  const re2::RE2* path_regex = nullptr;
  const route_rule* rule = nullptr;
  const listener_config* listener = nullptr;
  bool https = false;                 // the client connection is TLS
  tls::server_stream* tls = nullptr;  // the client connection's, on HTTPS (XFCC is cached there)
  std::string_view client_ip;         // the socket peer
  std::string_view generated_request_id;  // set when the gateway made the id
  std::string_view upgrade;  // an Upgrade the route lets through (WebSocket), forwarded
  // A traced request: the traceparent the upstream gets instead of the client's.
  std::string_view traceparent;
};

// The request the upstream receives, on the neutral model: its method, its
// target (rewritten, or the client's) and its fields (hop-by-hop ones dropped,
// X-Forwarded-*, Via, XFCC, the request id and the rule's header modifier
// applied). The views point into the request, the rule, the listener, the
// TLS session and the buffers here, which are reused from request to request.
struct upstream_scratch {
  std::string_view method;
  std::string_view target;
  std::vector<http::header> fields;
  std::string target_buf;      // a rewritten target
  std::string xff, via, xfcc;  // merged lists, when the client sent some
};

// Fills `scratch` with the upstream request for `in`.
void make_upstream_request(const upstream_head_input& in, upstream_scratch& scratch);

// make_upstream_request, then its HTTP/1.1 head (with the request's body framing) into `out`.
void write_upstream_head(std::string& out, upstream_scratch& scratch,
                         const upstream_head_input& in);

// Writes a UUIDv4-shaped request id made of `a` and `b` (random bits) into
// `out` (36 characters); returns its length.
std::size_t write_request_id(char* out, std::uint64_t a, std::uint64_t b) noexcept;

// A backend of `rr` by weight (`random` gives 64 random bits).
template <class Random>
const resolved_backend* pick_backend(const resolved_rule& rr, Random&& random) {
  if (rr.backends.size() == 1) return &rr.backends.front();
  std::uint64_t ticket = random() % rr.total_weight;
  for (const auto& b : rr.backends) {
    if (ticket < b.weight) return &b;
    ticket -= b.weight;
  }
  return &rr.backends.back();
}

// Counts one more in `n` for its lifetime (a worker's upstream connections
// in use, say).
struct scoped_count {
  std::size_t& n;
  explicit scoped_count(std::size_t& c) noexcept : n(++c) {}
  ~scoped_count() { --n; }
  scoped_count(const scoped_count&) = delete;
  scoped_count& operator=(const scoped_count&) = delete;
};

// The key a consistent-hash cluster picks an endpoint by: the hash of the
// source address, a header or a cookie as `hp` says. Without one, a cookie
// policy with a TTL makes a cookie (the value of its Set-Cookie field goes to
// `set_cookie`); else any endpoint (a random key), as Envoy does.
template <class Random>
std::uint64_t pick_hash(const hash_policy& hp, std::span<const http::header> headers,
                        std::string_view client, Random&& random, std::string& set_cookie) {
  using namespace std::string_view_literals;
  switch (hp.source) {
    case hash_source::source_ip:
      return hash_key(client);
    case hash_source::header:
      if (const auto* h = http::find_header(headers, hp.name)) return hash_key(h->value);
      break;
    case hash_source::cookie:
      if (auto value = http::cookie_value(headers, hp.name)) return hash_key(*value);
      if (hp.cookie_ttl.count() > 0) {
        // No cookie yet: make one, route by it, and hand it to the client so
        // its next requests land on the same endpoint.
        char value[16];
        static constexpr char hex[] = "0123456789abcdef";
        std::uint64_t r = random();
        for (char& c : value) {
          c = hex[r & 0xf];
          r >>= 4;
        }
        const std::string_view v(value, sizeof value);
        set_cookie.append(hp.name).push_back('=');
        set_cookie.append(v).append("; Max-Age="sv);
        set_cookie.append(std::to_string(hp.cookie_ttl.count()));
        set_cookie.append("; Path="sv).append(hp.cookie_path).append("; HttpOnly"sv);
        return hash_key(v);
      }
      break;
  }
  return random();
}

}  // namespace gateway
