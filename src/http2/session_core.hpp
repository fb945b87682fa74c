#pragma once
// What both sides of an nghttp2 session do alike: frames out, flow control,
// resets, the end of a body with its trailers, the SETTINGS announced. The
// server and client codecs add what their side receives and submits.
#include <gateway/http.hpp>

#include <cstdint>
#include <span>
#include <string>

#include <nghttp2/nghttp2.h>

#include "http2/header_block.hpp"

namespace gateway::http2 {

// What a body reader gave the codec: `size` bytes copied, `end` once the
// body is complete, `later` when there is nothing now but more will come
// (the owner calls resume() then), `broken` when nothing more will come
// and the body is not complete (the stream is reset: INTERNAL_ERROR).
struct read_result {
  std::size_t size = 0;
  bool end = false;
  bool later = false;
  bool broken = false;
};

class session_core {
 public:
  session_core(const session_core&) = delete;
  session_core& operator=(const session_core&) = delete;

  // Appends the frames ready to be written to `out`, up to about `limit`
  // bytes; returns whether any were.
  bool pending(std::string& out, std::size_t limit);
  // Whether the session has more to read or write; both false: it is done.
  bool want_read() const noexcept;
  bool want_write() const noexcept;
  // More of `id`'s body is ready (after its reader said later).
  void resume(std::int32_t id);
  // Ends `id` with RST_STREAM `error`.
  void reset(std::int32_t id, std::uint32_t error);
  // `n` bytes of `id`'s incoming body were used: the peer may send more.
  void consume(std::int32_t id, std::size_t n);

 protected:
  session_core() = default;
  ~session_core();
  // Sends SETTINGS `entries` and opens the connection window to `window`.
  void announce(std::span<const nghttp2_settings_entry> entries, std::uint32_t window);
  // For a body reader at its end: EOF, and `trailers` (when there are some)
  // in a HEADERS frame that ends the stream instead.
  void end_body(std::int32_t id, std::uint32_t* flags, std::span<const http::header> trailers);

  nghttp2_session* session_ = nullptr;  // made by the side's constructor, owned here
  header_block block_;                  // one head being submitted
};

}  // namespace gateway::http2
