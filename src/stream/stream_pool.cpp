#include "stream/stream_pool.hpp"

#include "stream/stream.hpp"

namespace gateway {

void stream_pool::give::operator()(stream* s) const noexcept {
  pool->give_back(s);
}

stream_pool::stream_pool(worker& owner, asio::any_io_executor executor)
    : owner_(owner), executor_(std::move(executor)) {
  free_.reserve(max_free);
}

stream_pool::~stream_pool() = default;

stream_pool::lease stream_pool::take(downstream& down, transport::watchdog& watch) {
  if (free_.empty()) return lease(new stream(down, owner_, watch, executor_), give{this});
  stream* s = free_.back().release();
  free_.pop_back();
  s->bind(down, watch);
  return lease(s, give{this});
}

std::size_t stream_pool::buffers() const noexcept {
  std::size_t n = 0;
  for (const auto& s : free_)
    n += s->upstream_buffers();
  return n;
}

void stream_pool::give_back(stream* s) noexcept {
  // A stream let go in the middle of a request (its connection was torn
  // down) is not reset for reuse: deleting it ends what it held.
  if (free_.size() >= max_free || !s->reusable()) {
    delete s;
    return;
  }
  free_.emplace_back(s);  // within the reserved room: no allocation
}

}  // namespace gateway
