#pragma once
// The deadline of whatever a connection waits on now. One deadline at a time,
// re-armed at each phase change without touching the timer (arm only cancels
// the wait when the new deadline is earlier), so arming costs no syscall on
// the hot path.
#include "asio/asio.hpp"

namespace gateway::transport {

// What the connection is waiting for; decides what an expiry means (a 408 for
// a head, a quiet close when idle, a 504 upstream).
enum class deadline_phase : std::uint8_t {
  handshake,  // TLS handshake (HTTPS listeners)
  idle,       // waiting for the next request on a keep-alive connection
  head,       // reading a request head
  upstream,   // connecting, sending the request, waiting for the response head
  stream,     // moving body bytes
  send,       // a client taking the bytes written to it (one that stopped reading: slow read)
};

class watchdog {
 public:
  explicit watchdog(const asio::any_io_executor& executor) : timer_(executor) {}

  // Starts `p` with `timeout` from now; clears an earlier expiry.
  void arm(deadline_phase p, std::chrono::milliseconds timeout) noexcept {
    phase_ = p;
    expired_ = false;
    deadline_ = coarse_now() + timeout;
    if (deadline_ < timer_.expiry()) timer_.cancel();  // the waiter re-arms earlier
  }
  void disarm() noexcept { deadline_ = steady_clock::time_point::max(); }
  // Whether the armed deadline passed (until the next arm).
  bool expired() const noexcept { return expired_; }
  deadline_phase phase() const noexcept { return phase_; }

  // Waits until the armed deadline passes (true: the owner cancels what it
  // waits on) or stop() is called (false).
  asio::awaitable<bool> next_expiry();
  // Calls `on_expiry()` each time the armed deadline passes, until stop();
  // the handler (which may hold the owner alive) is dropped then. For an
  // owner that would rather not keep a coroutine for it: this costs one
  // pending timer wait and no frames.
  template <class Handler>
  void run(Handler on_expiry);
  // Ends next_expiry() for good.
  void stop() noexcept {
    running_ = false;
    timer_.cancel();
  }
  // As if just constructed, for a new owner: a pool keeps watchdogs so that
  // each stream does not construct a timer (which looks its service up
  // under a lock). No wait may be pending.
  void reset() noexcept {
    deadline_ = steady_clock::time_point::max();
    phase_ = deadline_phase::idle;
    expired_ = false;
    running_ = true;
  }

 private:
  asio::steady_timer timer_;
  steady_clock::time_point deadline_ = steady_clock::time_point::max();
  deadline_phase phase_ = deadline_phase::idle;
  bool expired_ = false;
  bool running_ = true;
};

template <class Handler>
void watchdog::run(Handler on_expiry) {
  timer_.expires_at(deadline_);
  timer_.async_wait([this, h = std::move(on_expiry)](boost::system::error_code) mutable {
    if (!running_) return;
    if (steady_clock::now() >= deadline_) {
      expired_ = true;
      deadline_ = steady_clock::time_point::max();
      h();
      if (!running_) return;
    }
    run(std::move(h));  // a cancel by an earlier arm() lands here too
  });
}

}  // namespace gateway::transport
