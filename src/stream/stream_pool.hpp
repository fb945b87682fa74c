#pragma once
// A worker's streams that serve no request now. An HTTP/1.1 connection takes
// one when a request's first bytes arrive and gives it back once the request
// is recorded; an HTTP/2 stream holds one for its life. So an idle keep-alive
// connection holds no stream (nor the buffers a stream keeps warm), and a
// busy worker constructs none per request.
#include <memory>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

class downstream;
class stream;
class worker;
namespace transport {
class watchdog;
}

class stream_pool {
 public:
  // Gives a stream back to its pool (or deletes it when it still holds part
  // of a request, or the pool is full).
  struct give {
    stream_pool* pool = nullptr;
    void operator()(stream* s) const noexcept;
  };
  // A stream taken from the pool, given back when destroyed or reset.
  using lease = std::unique_ptr<stream, give>;

  // Streams of `owner`, running on its event loop `executor`.
  stream_pool(worker& owner, asio::any_io_executor executor);
  ~stream_pool();
  stream_pool(const stream_pool&) = delete;
  stream_pool& operator=(const stream_pool&) = delete;

  // A stream serving `down`, with `watch` its deadline; both outlive the lease.
  lease take(downstream& down, transport::watchdog& watch);
  // Streams kept for reuse now, and the capacity of their upstream buffers.
  std::size_t idle() const noexcept { return free_.size(); }
  std::size_t buffers() const noexcept;

  // Free streams kept at most: past a burst, the rest are deleted.
  static constexpr std::size_t max_free = 256;

 private:
  void give_back(stream* s) noexcept;

  worker& owner_;
  asio::any_io_executor executor_;
  std::vector<std::unique_ptr<stream>> free_;
};

}  // namespace gateway
