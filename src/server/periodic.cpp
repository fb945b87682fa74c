#include "server/periodic.hpp"

namespace gateway {

// The timer lives with the wait pending on it and is used on the loop only,
// so an owner destroyed from another thread never touches it: it clears
// `owner`, and the next tick ends there.
struct periodic::ticker {
  ticker(periodic* p, asio::io_context& loop) : owner(p), timer(loop) {}
  std::mutex mutex;  // held through a tick, and by the owner's destruction
  periodic* owner;
  asio::steady_timer timer;
};

periodic::periodic(std::chrono::milliseconds interval, std::function<void()> tick,
                   asio::io_context* loop)
    : interval_(interval), tick_(std::move(tick)) {
  if (loop) {
    ticker_ = std::make_shared<ticker>(this, *loop);
    // Armed on the loop: the caller may be another thread, the loop running.
    asio::post(*loop, [t = ticker_] {
      std::lock_guard lock(t->mutex);
      if (t->owner) arm(t);
    });
    return;
  }
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      tick_();
      lock.lock();
    }
  });
}

periodic::~periodic() {
  if (ticker_) {
    std::lock_guard lock(ticker_->mutex);
    ticker_->owner = nullptr;
  }
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void periodic::arm(const std::shared_ptr<ticker>& t) {
  t->timer.expires_after(t->owner->interval_);
  t->timer.async_wait([t](const boost::system::error_code& ec) {
    std::lock_guard lock(t->mutex);
    if (ec || !t->owner) return;
    t->owner->tick_();
    arm(t);
  });
}

}  // namespace gateway
