#include "transport/watchdog.hpp"

namespace gateway::transport {

asio::awaitable<bool> watchdog::next_expiry() {
  while (running_) {
    timer_.expires_at(deadline_);
    co_await timer_.async_wait(use_tuple);
    if (!running_) break;
    if (steady_clock::now() >= deadline_) {
      expired_ = true;
      deadline_ = steady_clock::time_point::max();
      co_return true;
    }
  }
  co_return false;
}

}  // namespace gateway::transport
