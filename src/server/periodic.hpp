#pragma once
// Work a gateway does every so often beside serving (the overload manager's
// samples, the certificate files' checks): on a thread of its own, or, for a
// gateway mounted on a host's loop, on that loop with a timer, so that a
// process running its one worker on its main thread starts no thread for it.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "asio/asio.hpp"

namespace gateway {

class periodic {
 public:
  // Calls `tick` every `interval` (the first time one interval from now): on
  // `loop` when given, else on a thread of its own. A tick on a loop holds
  // up the loop's other work, so it must be short there.
  periodic(std::chrono::milliseconds interval, std::function<void()> tick,
           asio::io_context* loop = nullptr);
  // No tick starts after this returns; one under way is waited for. Call it
  // from any thread, but not from within `tick`.
  ~periodic();
  periodic(const periodic&) = delete;
  periodic& operator=(const periodic&) = delete;

 private:
  struct ticker;  // the loop's timer, shared with its pending wait
  static void arm(const std::shared_ptr<ticker>& t);

  const std::chrono::milliseconds interval_;
  std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
  std::thread thread_;
  std::shared_ptr<ticker> ticker_;  // ticking on a loop
};

}  // namespace gateway
