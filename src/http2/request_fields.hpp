#pragma once
// An HTTP/2 request head as the codec hands it over, field by field, and its
// translation into the HTTP/1.1-shaped head the pipeline serves: the
// pseudo-fields (RFC 9113 §8.3), cookies joined (§8.2.3), Content-Length
// checked, and an extended CONNECT for WebSocket (RFC 8441) turned into the
// Upgrade GET an HTTP/1.1 upstream expects. Kept apart from the session so
// that what a client sends can be tested and fuzzed on its own.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "http1/http1_parser.hpp"
#include "stream/owned_fields.hpp"

namespace gateway::http2 {

// What one head may hold (the listener's limits).
struct request_limits {
  std::size_t max_head = 64 * 1024;  // names and values, 4 bytes more per field
  std::size_t max_count = 100;       // fields, pseudo-fields included
};

class received_request {
 public:
  // One field of the head or, once the body began, a trailer (`trailer`).
  // False resets the stream: a trailer past the limits or a pseudo-field
  // among trailers. A head past the limits is kept counting and refused
  // (431) once complete, as an HTTP/1.1 one would be.
  bool add(std::string_view name, std::string_view value, bool trailer,
           const request_limits& limits);

  // Fills `rq` (cleared first) with views of the fields received, valid
  // while this object is unchanged. `end` (no body follows) becomes true for
  // a WebSocket CONNECT, whose DATA is the tunnel's. A head HTTP/1.1 could
  // not carry (no origin-form path, a bad or conflicting Content-Length, an
  // extended CONNECT of another protocol) is refused with 400.
  void to_http1(http1::request_head& rq, bool& end);

  // The status to answer instead of serving (431, 400), or 0.
  int refused() const noexcept { return refused_; }
  // Whether the head was an extended CONNECT for WebSocket.
  bool websocket() const noexcept { return websocket_; }
  // The Sec-WebSocket-Key the translated head carries (rq holds a view of
  // it): the caller writes a fresh key (24 Base64 characters) into it.
  std::span<char, 24> websocket_key() noexcept { return websocket_key_; }
  // The request's trailers, if any.
  const owned_fields& trailers() const noexcept { return trailers_; }
  // Back to no field received, keeping the room (for another stream).
  void clear() noexcept {
    fields_.clear();
    trailers_.clear();
    cookie_.clear();
    head_bytes_ = 0;
    refused_ = 0;
    websocket_ = false;
  }
  std::size_t capacity() const noexcept {
    return fields_.capacity() + trailers_.capacity() + cookie_.capacity();
  }

 private:
  owned_fields fields_;
  owned_fields trailers_;
  std::string cookie_;  // several cookie fields joined
  std::size_t head_bytes_ = 0;
  int refused_ = 0;
  bool websocket_ = false;
  char websocket_key_[24] = {};
};

}  // namespace gateway::http2
