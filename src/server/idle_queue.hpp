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
//
// Tasks run one at a time between the loop's handlers while the worker
// serves other requests. When every request it has in progress holds the
// queue (a request whose WAF phases come through it holds it from its head
// to its end) and no other request ended since the last task, tasks run back
// to back for up to `batch`: nothing waits but for them, and back to back
// they run faster (the rules' code and data stay in the caches) and the
// requests they release reach the upstream and the clients together, which
// wake once for several instead of once each. Another route's request that
// arrives meanwhile waits up to `batch` longer; while such requests keep
// coming, tasks go one at a time again.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>

#include "asio/asio.hpp"

namespace gateway {

class idle_queue {
 public:
  using task = std::function<void()>;

  // Tasks run on the thread running `context`, between its handlers.
  // `in_progress` counts the requests the worker has in progress (it outlives
  // the queue); null: tasks always run one at a time.
  idle_queue(asio::io_context& context, std::chrono::microseconds max_wait,
             std::chrono::microseconds batch = {}, const std::size_t* in_progress = nullptr);
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

  // Held by a request in progress whose tasks come through `q` (or none:
  // null), on the loop's thread, for as long as it lives.
  class hold {
   public:
    hold() noexcept = default;
    explicit hold(idle_queue* q) noexcept : q_(q) {
      if (q_) ++q_->holders_;
    }
    ~hold() {
      if (q_) --q_->holders_;
    }
    hold(const hold&) = delete;
    hold& operator=(const hold&) = delete;

   private:
    idle_queue* q_ = nullptr;
  };

  // Ends a request by calling `finish`, which destroys its holds if it has
  // any; one that held none is other work, which ends batches for a while.
  template <class F>
  void end_request(F&& finish) {
    const std::size_t held = holders_;
    finish();
    if (holders_ == held) ++others_;
  }

  // Queues `t` unless `max_queued` tasks (0: no bound) already wait; false
  // when refused. On the loop's thread only.
  bool try_push(task t, std::size_t max_queued);
  // The loop has been told to stop: what is queued now will not run.
  bool stopped() const noexcept { return context_.stopped(); }
  // Tasks waiting, here and over every idle queue of the process.
  std::size_t size() const noexcept { return tasks_.size(); }
  static std::size_t queued_everywhere() noexcept;
  // Tasks that ran right after another one, over every idle queue of the process.
  static std::uint64_t back_to_back_everywhere() noexcept;

 private:
  void schedule();
  void drain();

  asio::io_context& context_;
  std::chrono::microseconds max_wait_;
  std::chrono::microseconds batch_;
  const std::size_t* in_progress_;
  std::size_t holders_ = 0;      // requests in progress that hold the queue
  std::size_t others_ = 0;       // requests ended that held none
  std::size_t others_seen_ = 0;  // others_ when the last task ran
  std::deque<task> tasks_;
  // When the next task runs even if the loop is busy.
  std::chrono::steady_clock::time_point due_{};
  bool scheduled_ = false;  // a drain is posted or running
};

}  // namespace gateway
