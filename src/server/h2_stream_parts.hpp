#pragma once
// The parts of an HTTP/2 stream that cost something to make: the request head
// as it arrives, the body both ways, the response head and trailers the codec
// reads later, and the stream's two timers. Each stream is new, so with fresh
// parts a stream grew every buffer field by field (about twenty allocations
// per request, by bench/callgrind --h2) and constructed two timers (each a
// service lookup under Asio's registry lock, and a reactor lock when it
// went). A worker keeps the parts of ended streams, emptied with their
// capacity, for the next ones.
#include <memory>
#include <string>
#include <vector>

#include "http2/header_block.hpp"
#include "http2/request_fields.hpp"
#include "stream/owned_fields.hpp"
#include "transport/watchdog.hpp"

namespace gateway {

struct h2_stream_parts {
  // Timers on `executor`, which every stream that takes these parts runs on.
  explicit h2_stream_parts(const asio::any_io_executor& executor)
      : watch(executor), wake(executor) {}

  transport::watchdog watch;                     // the stream's own deadline
  asio::steady_timer wake;                       // body arrived, room to send, or the stream ended
  http2::received_request in;                    // the request head and trailers as they arrive
  std::vector<http::header> tunnel_fields;       // an extended CONNECT's 200, before it is owned
  std::string body_in;                           // request body not yet released
  std::vector<http::header> trailers_in_fields;  // views of in.trailers()
  http2::header_block head;                      // the response head, as the codec submits it
  std::string body_out;                          // response body the codec has not taken
  owned_fields trailers_owned;
  std::vector<http::header> trailers_out;  // views of trailers_owned

  // Empties every part, keeping its room (the bodies' only when small), and
  // readies the watchdog for the next stream. No timer wait may be pending.
  void clear() noexcept;
  // Bytes of room held.
  std::size_t capacity() const noexcept;
};

// A worker's parts of ended streams. On its thread only; the executor's
// context outlives the pool.
class h2_parts_pool {
 public:
  struct give {
    h2_parts_pool* pool = nullptr;
    void operator()(h2_stream_parts* p) const noexcept;
  };
  // Parts taken from the pool, given back (emptied) when the stream ends.
  using lease = std::unique_ptr<h2_stream_parts, give>;

  explicit h2_parts_pool(asio::any_io_executor executor) : executor_(std::move(executor)) {
    free_.reserve(max_free);
  }
  lease take();
  // Parts kept for reuse now, and the room they hold.
  std::size_t idle() const noexcept { return free_.size(); }
  std::size_t bytes() const noexcept;

  // At most this many kept: past a burst of streams, the rest are freed.
  static constexpr std::size_t max_free = 256;
  // A body buffer larger than this is freed, not kept.
  static constexpr std::size_t max_kept_body = 16 * 1024;

 private:
  asio::any_io_executor executor_;  // the worker's, for new parts' timers
  std::vector<std::unique_ptr<h2_stream_parts>> free_;
};

}  // namespace gateway
