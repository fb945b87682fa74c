#pragma once
// One HTTP request the gateway makes itself, beside the traffic it proxies:
// a health probe, a JWKS fetch, a mirror copy. It goes to one address on a
// connection of its own (closed after it), through the cluster's TLS when
// there is some, in HTTP/1.1 or HTTP/2, with one deadline over all of it.
// The head is written by the HTTP/1.1 serializer and the answer read by the
// parser and chunk decoder that proxied responses go through (HTTP/2: the
// client codec), so these requests frame exactly as proxied ones do.
#include <gateway/http.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

namespace tls {
class client_context;
}

// Where a call goes.
struct outbound_target {
  tcp::endpoint address;
  const tls::client_context* tls = nullptr;  // TLS with this context when set (borrowed)
  std::string server_name;                   // TLS: the SNI and the name to verify
  bool http2 = false;  // HTTP/2 (prior knowledge, or ALPN h2 over TLS), else HTTP/1.1
};

// Lets the owner of a call end it early, on the call's executor: stop()
// closes its connection, so whatever it waits on ends at once.
class outbound_stopper {
 public:
  void stop() {
    if (close_) close_();
  }

 private:
  friend struct outbound_access;
  std::function<void()> close_;  // set while a call runs
};

// What a call sends; views borrowed until the call's coroutine returns.
struct outbound_request {
  std::string_view method = "GET";
  std::string_view authority;                    // Host (HTTP/2 :authority)
  std::string_view target = "/";                 // path and query
  std::span<const http::header> fields;          // end-to-end fields, without Host or framing
  std::string_view body;                         // sent with a Content-Length when not empty
  std::chrono::milliseconds timeout{5000};       // connect to the body's end
  std::chrono::milliseconds connect_timeout{0};  // the connect (and TLS) alone; 0: `timeout`
  std::size_t max_body = 64 * 1024;              // the body kept; the rest is read and dropped
  outbound_stopper* stopper = nullptr;           // borrowed; lets the caller end the call
};

// What came back.
struct outbound_response {
  int status = 0;                                           // 0: no response (`why` says why)
  std::vector<std::pair<std::string, std::string>> fields;  // the head's, then trailers
  std::string body;                                         // its first max_body bytes
  bool complete = false;                                    // the body arrived whole by its framing
  bool timed_out = false;
  std::string why;  // for a log line, when there was no (complete) response

  // The first field named `name` (lowercase), or none.
  std::optional<std::string_view> field(std::string_view name) const noexcept;
};

// Sends `request` to `to` and reads the whole answer (1xx answers skipped).
asio::awaitable<outbound_response> outbound_call(const outbound_target& to,
                                                 const outbound_request& request);

// Bytes instead of HTTP (a TCP health check): sends `send` (if any), then
// reads until `receive` is among what came (at once when it is empty), all
// within `timeout`. `complete` says it was; `body` holds what came.
asio::awaitable<outbound_response> outbound_bytes(const outbound_target& to, std::string_view send,
                                                  std::string_view receive,
                                                  std::chrono::milliseconds timeout);

}  // namespace gateway
