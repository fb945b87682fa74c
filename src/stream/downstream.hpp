#pragma once
// What a stream needs of the client side its request came from, whatever the
// protocol: the client's facts, the request body as it arrives, and a way to
// send the response. The codec frames; the stream never sees wire text. The
// HTTP/1.1 connection implements it for its one stream at a time.
#include <gateway/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

namespace tls {
class server_stream;
}
struct snapshot;
class byte_pipe;
struct socket_group;
struct listener_runtime;

// What has arrived of a request body and is not yet released: data pieces
// (views valid until the next read_body or release_body) appended to the
// caller's vector, and whether they are all of it.
struct body_view {
  std::size_t count = 0;                   // data pieces appended
  std::uint64_t bytes = 0;                 // data bytes in them
  bool end = false;                        // they end the body (with `trailers`)
  bool error = false;                      // malformed framing: the request is unusable
  std::span<const http::header> trailers;  // with `end`: the trailer fields (may be none)
};

// peek_body of a downstream that holds the whole body in memory (an
// evaluation, a host's call): `body` unless `released`, and the end.
inline body_view whole_body(std::string_view body, bool released,
                            std::vector<asio::const_buffer>& out) {
  body_view v;
  v.end = true;
  if (!released && !body.empty()) {
    out.emplace_back(body.data(), body.size());
    v.count = 1;
    v.bytes = body.size();
  }
  return v;
}

// How a read for more of the request body ended.
enum class body_read : std::uint8_t {
  ok,    // more arrived
  full,  // no room for more within the size asked for
  gone,  // the client closed, failed or went quiet for the stream idle timeout
  late,  // the request's deadline passed (request_received_timeout): a 408 is due
};

// How long a wait for more of the request body may last: the stream idle
// timeout, or what is left until the request's deadline when that comes
// first (an expiry then means `late`, not `gone`).
struct body_wait {
  std::chrono::milliseconds timeout;
  bool deadline_first = false;
  bool passed() const noexcept { return deadline_first && timeout.count() <= 0; }
};
inline body_wait wait_for_body(steady_clock::time_point deadline,
                               std::chrono::milliseconds idle) noexcept {
  if (deadline == steady_clock::time_point{}) return {idle};
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - coarse_now());
  if (left >= idle) return {idle};
  return {std::max(left, std::chrono::milliseconds(0)), true};
}

// A response head on the neutral model. The codec adds its own framing and
// connection-management fields.
struct response_start {
  int status = 200;
  std::string_view reason;               // empty: the standard one
  std::span<const http::header> fields;  // end-to-end fields
  bool bodyless = false;  // HEAD, 204, 304, 101: no body; a Content-Length in `fields` stays
  bool has_length = false;
  std::uint64_t length = 0;  // the body's length, with has_length
};

// An answer the gateway makes itself, body included.
struct local_answer {
  int status = 0;
  std::span<const http::header> fields;
  std::string_view body;
  bool close = false;         // the connection closes after it
  bool head_request = false;  // the length of `body` is sent, not the body
  // No body and no length field where the protocol lets the head end the
  // response (HTTP/2: gRPC's Trailers-Only answer); `body` must be empty.
  bool fields_only = false;
};

class downstream {
 public:
  // Facts of the connection, kept current by the implementation.
  std::string_view client_ip;
  std::uint16_t client_port = 0;
  bool https = false;                 // the client came over TLS
  tls::server_stream* tls = nullptr;  // its TLS session, when there is one to inspect
  std::uint64_t tls_validation = 0;   // the client validation the handshake used
  std::string_view protocol;          // "HTTP/1.1", "HTTP/1.0"
  // What the request is served from: the snapshot, the socket group it
  // arrived on and the listener the stream starts from.
  const snapshot* snap = nullptr;
  const socket_group* listener_group = nullptr;
  const listener_runtime* listener = nullptr;
  bool closed = false;  // nothing more can be sent
  bool forced = false;  // closed by force (stop without drain)
  // When the request must have arrived whole (the listener's
  // request_received_timeout from its start); {}: no deadline. The codec
  // sets it as a request begins and clears it when the response starts.
  steady_clock::time_point request_deadline{};

  // Whether the stream can still answer.
  bool gone() const noexcept { return closed || forced; }

  // The gateway's end of the connection (looked up once).
  virtual std::pair<std::string_view, std::uint16_t> local_address() noexcept = 0;
  // What keeps the stream alive: a filter's resume() from another thread
  // checks it before touching the stream.
  virtual std::weak_ptr<void> owner() noexcept = 0;

  // The request head's bytes are no longer needed (its views may go).
  virtual void release_head() noexcept = 0;
  // Appends to `out` the request body that has arrived since the last
  // release_body (the same pieces again when called twice).
  virtual body_view peek_body(std::vector<asio::const_buffer>& out) = 0;
  // Drops what the last peek_body returned.
  virtual void release_body() noexcept = 0;
  // Waits for more of the request body, with room for up to `room` bytes
  // of it buffered; a client that expects 100-continue is told to send.
  virtual asio::awaitable<body_read> read_body(std::size_t room) = 0;

  // Queues the response head.
  virtual void start_response(const response_start& r) = 0;
  // Queues body data (views that must live until the next send()).
  virtual void send_body(std::span<const asio::const_buffer> pieces, std::uint64_t bytes) = 0;
  // Writes what is queued; `end` ends the body (with `trailers`).
  virtual asio::awaitable<bool> send(bool end, std::span<const http::header> trailers = {}) = 0;
  // Sends an interim (1xx) response where the client's protocol has them.
  virtual asio::awaitable<bool> send_interim(int status, std::string_view reason,
                                             std::span<const http::header> fields) = 0;
  // Sends a whole answer of the gateway's.
  virtual asio::awaitable<bool> send_local(const local_answer& a) = 0;
  // Ends the client's side with a reset and no answer.
  virtual void drop() noexcept = 0;
  // The connection cannot carry another request after this response (the
  // request body was not read to its end, say).
  virtual void end_after_response() noexcept = 0;
  // After a 101 answer went out: the client's side of the tunnel (null where
  // the protocol has none).
  virtual byte_pipe* pipe() noexcept { return nullptr; }

 protected:
  ~downstream() = default;
};

}  // namespace gateway
