#pragma once
// Bounded work that a worker runs on its own thread when its loop has nothing
// else ready, such as a WAF phase with no body to inspect (a few hundred
// microseconds with the CRS). Handing such work to another thread costs two
// thread switches and their cache misses on a core the worker shares, more
// than a third of the work itself; running it here costs none.
//
// What the loop has ready (I/O completions, resumed requests, timers) runs
// first, so requests that need none of this work are not held behind it.
// When the loop stays busy, one task still runs at least every `max_wait`,
// so queued work is slowed, never starved. Unbounded work (a body of any
// size) belongs on other threads: here it would hold every connection of
// the worker for its whole length.
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>

#include "asio/asio.hpp"

namespace gateway {

class idle_queue {
 public:
  using task = std::function<void()>;

  // Tasks run on the thread running `context`, between its handlers.
  idle_queue(asio::io_context& context, std::chrono::microseconds max_wait);
  ~idle_queue();
  idle_queue(const idle_queue&) = delete;
  idle_queue& operator=(const idle_queue&) = delete;

  // The queue of the loop this thread runs, or null (a thread that runs no
  // worker loop, or a loop a host runs, where such work goes elsewhere).
  static idle_queue* current() noexcept;
  // Makes `q` this thread's current() while the scope lives.
  class scope {
   public:
    explicit scope(idle_queue& q) noexcept;
    ~scope();
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    idle_queue* outer_;
  };

  // Queues `t` unless `max_queued` tasks (0: no bound) already wait; false
  // when refused. On the loop's thread only.
  bool try_push(task t, std::size_t max_queued);
  // The loop has been told to stop: what is queued now will not run.
  bool stopped() const noexcept { return context_.stopped(); }
  // Tasks waiting, here and over every idle queue of the process.
  std::size_t size() const noexcept { return tasks_.size(); }
  static std::size_t queued_everywhere() noexcept;

 private:
  void schedule();
  void drain();

  asio::io_context& context_;
  std::chrono::microseconds max_wait_;
  std::deque<task> tasks_;
  // When the next task runs even if the loop is busy.
  std::chrono::steady_clock::time_point due_{};
  bool scheduled_ = false;  // a drain is posted or running
};

}  // namespace gateway
