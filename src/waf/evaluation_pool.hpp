#pragma once
// Where WAF phases with a body are evaluated: a few threads of the process,
// so a worker never spends milliseconds (or, for a large body, seconds)
// inside libmodsecurity while its other connections wait. A paused filter
// posts its phase here and is resumed on its worker when the phase is done.
// Phases without a body (bounded by the head's size) run on the worker
// instead, between its other work (server/idle_queue.hpp).
//
// The threads run at a lower CPU priority than the workers (nice +10 by
// default): when the machine is saturated, requests that need no WAF keep
// their throughput and the WAF work queues, instead of both slowing alike.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gateway::waf {

class evaluation_pool {
 public:
  // The process's pool, started on first use with the configured size.
  static evaluation_pool& shared();

  evaluation_pool(unsigned threads, int nice);
  ~evaluation_pool();
  evaluation_pool(const evaluation_pool&) = delete;
  evaluation_pool& operator=(const evaluation_pool&) = delete;

  void post(std::function<void()> task);
  // Posts unless `max_queued` tasks are already waiting (0: no bound); false
  // when refused. New requests are bounded, work on started ones never is.
  bool try_post(std::function<void()> task, std::size_t max_queued);
  // Tasks waiting for a thread (a gauge for the metrics).
  std::size_t queued() const;
  unsigned threads() const noexcept { return static_cast<unsigned>(threads_.size()); }

 private:
  void run(int nice);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace gateway::waf
