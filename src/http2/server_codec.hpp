#pragma once
// The server side of HTTP/2 as a codec and nothing else: bytes from the client
// go in (receive), frames for the client come out (pending), and what they
// mean is told to an owner as stream events. nghttp2 does the framing, HPACK,
// flow-control accounting and protocol checks; the I/O and everything a
// stream does with its request are the owner's.
#include <gateway/http.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "http2/session_core.hpp"

namespace gateway::http2 {

// The client's connection preface; a plain connection that starts with it
// speaks HTTP/2 with prior knowledge (h2c).
inline constexpr std::string_view client_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// What the codec tells its owner, from inside receive() and pending().
class codec_events {
 public:
  // A request's HEADERS began on stream `id`; false refuses it at once
  // (RST_STREAM REFUSED_STREAM: nothing of it was processed, a client may
  // retry it) and nothing more of it is reported.
  virtual bool on_request_begin(std::int32_t id) = 0;
  // nghttp2 refused a request's HEADERS itself (a stream over the
  // concurrency the client was told, among other protocol errors);
  // `protocol_error`: it ends the connection rather than the stream.
  virtual void on_request_refused(std::int32_t id, bool protocol_error) = 0;
  // One field of its head (pseudo-fields included, names lowercase as the
  // protocol requires), or of its trailers (`trailer`, after the body);
  // false refuses the stream (RST_STREAM).
  virtual bool on_request_field(std::int32_t id, std::string_view name, std::string_view value,
                                bool trailer) = 0;
  // The head is complete; `end` when no body follows.
  virtual void on_request_head(std::int32_t id, bool end) = 0;
  // A piece of the request body (flow control: consume() when it is used).
  virtual void on_request_data(std::int32_t id, std::string_view data) = 0;
  // The request body ended (END_STREAM after DATA or trailers).
  virtual void on_request_end(std::int32_t id) = 0;
  // The stream is gone (`error` 0: it completed both ways).
  virtual void on_stream_close(std::int32_t id, std::uint32_t error) = 0;
  // Copies up to `room` bytes of the response body of `id` into `out`
  // (at its end, response_trailers are asked for).
  using read_result = http2::read_result;
  virtual read_result read_response(std::int32_t id, char* out, std::size_t room) = 0;
  // The trailer fields of `id`, asked once its body ended (empty: none).
  virtual std::span<const http::header> response_trailers(std::int32_t id) = 0;

 protected:
  ~codec_events() = default;
};

// What the codec announces in its SETTINGS.
struct settings {
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t initial_stream_window = 64 * 1024 - 1;
  std::uint32_t initial_connection_window = 1024 * 1024;
  std::uint32_t max_header_list = 64 * 1024;  // decoded size of one head
  std::uint32_t max_frame_size = 16 * 1024;
  // Defences (see the constructor).
  std::uint64_t reset_burst = 1000;  // stream resets allowed at once...
  std::uint64_t reset_rate = 33;     // ...and per second after that
  std::size_t max_continuations = 8;
  std::size_t max_outbound_ack = 1000;
  std::size_t max_settings = 32;  // entries in one SETTINGS frame
};

class server_codec : public session_core {
 public:
  server_codec(codec_events& events, const settings& s);

  // Feeds bytes from the client; false on a connection error (a GOAWAY is
  // then pending and the connection should close once it is written).
  bool receive(std::string_view bytes);

  // Starts the response of `id`; the body follows through read_response
  // unless `bodyless`. `fields` must not hold connection-specific fields.
  bool respond(std::int32_t id, int status, std::span<const http::header> fields, bool bodyless);
  // The same with the head built already (:status first, then the fields).
  bool respond(std::int32_t id, header_block& head, bool bodyless);
  // An interim (1xx) response on `id`.
  bool interim(std::int32_t id, int status, std::span<const http::header> fields);
  // Starts a graceful close: GOAWAY with the last stream taken, which it
  // returns; streams under way finish.
  std::int32_t shut_down();
  // Ends the connection at once with GOAWAY `error`.
  void terminate(std::uint32_t error);

 private:
  friend struct callbacks;
  // Lowercases `fields` into block_ (after `status`, when not 0), dropping
  // the connection-specific ones RFC 9113 §8.2.2 forbids.
  void make_nva(int status, std::span<const http::header> fields);

  // Gives back `n` of the control-frame budget (see frame_recv).
  void refill(std::int64_t n) noexcept;

  codec_events& events_;
  std::int32_t refused_ = 0;  // the stream on_request_begin refused last
  std::int64_t control_budget_;
  bool flooded_ = false;
};

}  // namespace gateway::http2
