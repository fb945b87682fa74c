#pragma once
// The parts of an HTTP/2 stream that hold heap memory: the request head as it
// arrives, the body both ways, the response head and trailers the codec
// reads later. Each stream is new, so with fresh parts a stream grew every
// one of them field by field (about twenty allocations per request, by
// bench/callgrind --h2). A worker keeps the parts of ended streams, emptied
// with their capacity, for the next ones.
#include <memory>
#include <string>
#include <vector>

#include "http2/header_block.hpp"
#include "http2/request_fields.hpp"
#include "stream/owned_fields.hpp"

namespace gateway {

struct h2_stream_parts {
  http2::received_request in;                    // the request head and trailers as they arrive
  std::vector<http::header> tunnel_fields;       // an extended CONNECT's 200, before it is owned
  std::string body_in;                           // request body not yet released
  std::vector<http::header> trailers_in_fields;  // views of in.trailers()
  http2::header_block head;                      // the response head, as the codec submits it
  std::string body_out;                          // response body the codec has not taken
  owned_fields trailers_owned;
  std::vector<http::header> trailers_out;  // views of trailers_owned

  // Empties every part, keeping its room (the bodies' only when small).
  void clear() noexcept;
  // Bytes of room held.
  std::size_t capacity() const noexcept;
};

// A worker's parts of ended streams. On its thread only.
class h2_parts_pool {
 public:
  struct give {
    h2_parts_pool* pool = nullptr;
    void operator()(h2_stream_parts* p) const noexcept;
  };
  // Parts taken from the pool, given back (emptied) when the stream ends.
  using lease = std::unique_ptr<h2_stream_parts, give>;

  h2_parts_pool() { free_.reserve(max_free); }
  lease take();
  // Parts kept for reuse now, and the room they hold.
  std::size_t idle() const noexcept { return free_.size(); }
  std::size_t bytes() const noexcept;

  // At most this many kept: past a burst of streams, the rest are freed.
  static constexpr std::size_t max_free = 256;
  // A body buffer larger than this is freed, not kept.
  static constexpr std::size_t max_kept_body = 16 * 1024;

 private:
  std::vector<std::unique_ptr<h2_stream_parts>> free_;
};

}  // namespace gateway
