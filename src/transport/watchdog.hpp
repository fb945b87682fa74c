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

class watchdog_group;

class watchdog {
 public:
  explicit watchdog(const asio::any_io_executor& executor) : timer_(executor) {}

  // Starts `p` with `timeout` from now; clears an earlier expiry.
  void arm(deadline_phase p, std::chrono::milliseconds timeout) noexcept;
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
    group_ = nullptr;
  }

  // Deadlines kept for `group`'s timer instead of this one's (run() and
  // next_expiry() are not used then): the group's owner calls passed() for
  // each member when the group wakes. Until reset().
  void join(watchdog_group& group) noexcept { group_ = &group; }
  // For the group's owner: whether the armed deadline passed by `now`
  // (then it is expired, as run() would have found it).
  bool passed(steady_clock::time_point now) noexcept {
    if (now < deadline_) return false;
    expired_ = true;
    deadline_ = steady_clock::time_point::max();
    return true;
  }
  // The armed deadline (max when none).
  steady_clock::time_point deadline() const noexcept { return deadline_; }

 private:
  asio::steady_timer timer_;
  watchdog_group* group_ = nullptr;
  steady_clock::time_point deadline_ = steady_clock::time_point::max();
  deadline_phase phase_ = deadline_phase::idle;
  bool expired_ = false;
  bool running_ = true;
};

// One timer for the deadlines of many watchdogs (an HTTP/2 connection's
// streams), so that arming one costs no timer operation unless its deadline
// comes before every other's. The owner knows the members and checks them
// when the group wakes.
class watchdog_group {
 public:
  explicit watchdog_group(const asio::any_io_executor& executor) : timer_(executor) {}

  // A member's deadline: the group wakes by then.
  void pull_in(steady_clock::time_point t) noexcept {
    if (t >= wake_at_) return;
    wake_at_ = t;
    timer_.cancel();  // the waiter waits again, until `t`
  }
  // Calls `on_wake(now)` whenever the earliest deadline pulled in has
  // passed; it checks the members (watchdog::passed) and returns the
  // earliest deadline still ahead. Until stop(); the handler (which may
  // hold the owner alive) is dropped then.
  template <class Handler>
  void run(Handler on_wake);
  void stop() noexcept {
    running_ = false;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  steady_clock::time_point wake_at_ = steady_clock::time_point::max();
  bool running_ = true;
};

inline void watchdog::arm(deadline_phase p, std::chrono::milliseconds timeout) noexcept {
  phase_ = p;
  expired_ = false;
  deadline_ = coarse_now() + timeout;
  if (group_)
    group_->pull_in(deadline_);
  else if (deadline_ < timer_.expiry())
    timer_.cancel();  // the waiter re-arms earlier
}

template <class Handler>
void watchdog_group::run(Handler on_wake) {
  timer_.expires_at(wake_at_);
  timer_.async_wait([this, h = std::move(on_wake)](boost::system::error_code) mutable {
    if (!running_) return;
    const steady_clock::time_point now = steady_clock::now();
    if (now >= wake_at_) {
      wake_at_ = steady_clock::time_point::max();  // what members pull in meanwhile counts
      const steady_clock::time_point next = h(now);
      if (!running_) return;
      if (next < wake_at_) wake_at_ = next;
    }
    run(std::move(h));  // a pull_in's cancel lands here too
  });
}

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
