#pragma once
// The client side of HTTP/2 as a codec and nothing else, for upstreams: the
// owner submits requests and feeds the upstream's bytes in (receive), frames
// for the upstream come out (pending), and what the upstream answers is told
// to the owner as stream events. nghttp2 does the framing, HPACK, flow-control
// accounting and protocol checks; I/O and what a stream does are the owner's.
#include <gateway/http.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <nghttp2/nghttp2.h>

#include "http2/session_core.hpp"

namespace gateway::http2 {

// What the codec tells its owner, from inside receive() and pending().
class client_events {
 public:
  // One field of a response head, an interim head or trailers of stream `id`
  // (pseudo-fields included, names lowercase); false resets the stream.
  virtual bool on_response_field(std::int32_t id, std::string_view name,
                                 std::string_view value) = 0;
  // A block of fields of `id` is complete (a head has :status, trailers
  // have not); `end`: the response ended with it.
  virtual void on_response_block(std::int32_t id, bool end) = 0;
  // A piece of the response body (flow control: consume() when it is used).
  virtual void on_response_data(std::int32_t id, std::string_view data) = 0;
  // The response body ended (END_STREAM on DATA).
  virtual void on_response_end(std::int32_t id) = 0;
  // The stream is gone (`error` 0: it completed both ways). REFUSED_STREAM
  // (the peer's RST_STREAM, or a GOAWAY that did not take it) means the
  // upstream did not process the request.
  virtual void on_stream_close(std::int32_t id, std::uint32_t error) = 0;
  // The upstream sent GOAWAY: it takes no new streams past `last_id`.
  virtual void on_goaway(std::int32_t last_id, std::uint32_t error) = 0;
  // Copies up to `room` bytes of the request body of `id` into `out`.
  using read_result = http2::read_result;
  virtual read_result read_request(std::int32_t id, char* out, std::size_t room) = 0;
  // The trailer fields of `id`, asked once its body ended (empty: none).
  virtual std::span<const http::header> request_trailers(std::int32_t id) = 0;

 protected:
  ~client_events() = default;
};

// What the client announces, and what it assumes of the peer before its SETTINGS.
struct client_settings {
  std::uint32_t initial_stream_window = 256 * 1024;  // response bytes buffered per stream
  std::uint32_t initial_connection_window = 4 * 1024 * 1024;
  std::uint32_t max_header_list = 64 * 1024;
  std::uint32_t assumed_peer_streams = 100;  // until the peer's SETTINGS say
};

// The request a stream starts with. `fields` are end-to-end fields (Host is
// left out: `authority` says it).
struct request_start {
  std::string_view method, scheme, authority, path;
  std::span<const http::header> fields;
  bool has_body = false;
};

class client_codec : public session_core {
 public:
  client_codec(client_events& events, const client_settings& s);

  // Feeds bytes from the upstream; false on a connection error (a GOAWAY
  // is then pending; the connection should close once it is written).
  bool receive(std::string_view bytes);

  // Starts a request; its stream id, or 0 when the connection takes no
  // more streams (GOAWAY, ids used up). The body comes through read_request.
  std::int32_t request(const request_start& r);
  // Streams the peer lets us open at once (its SETTINGS, or the assumption).
  std::uint32_t peer_max_streams() const noexcept;
  // Whether a new request may start (no GOAWAY either way).
  bool accepts_requests() const noexcept;

 private:
  friend struct client_callbacks;
  client_events& events_;
};

}  // namespace gateway::http2
