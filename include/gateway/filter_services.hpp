#pragma once
// The gateway's background services for filter factories (and their
// filters): one thread per process that runs their tasks, timers and HTTP
// calls, so a filter that refreshes keys, talks to a rate-limit server or
// polls a feature flag needs no thread or event loop of its own. A factory
// gets them from filter_factory_context::services().
//
// Work posted here must be short: it shares the thread with every other
// factory's. Anything slow (a request) goes through fetch(), which waits
// without holding the thread.
#include <gateway/client.hpp>
#include <gateway/export.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace gateway {

// A task scheduled with filter_services::schedule; destroying the handle
// (or calling cancel) stops it if it has not run yet.
class GATEWAY_API scheduled_task {
 public:
  scheduled_task() = default;
  ~scheduled_task();
  scheduled_task(scheduled_task&&) noexcept;
  scheduled_task& operator=(scheduled_task&&) noexcept;
  scheduled_task(const scheduled_task&) = delete;
  scheduled_task& operator=(const scheduled_task&) = delete;
  // Stops the task if it has not started; from any thread. A task that is
  // running finishes (cancel from inside it is fine).
  void cancel() noexcept;

  struct state;  // shared with the background thread
  explicit scheduled_task(std::shared_ptr<state> s) noexcept;

 private:
  std::shared_ptr<state> state_;
};

class GATEWAY_API filter_services {
 public:
  virtual ~filter_services() = default;
  // Runs `task` on the background thread, soon. Any thread.
  virtual void post(std::function<void()> task) = 0;
  // Runs `task` on the background thread after `delay`, unless the handle
  // is cancelled or destroyed first. Any thread.
  [[nodiscard]] virtual scheduled_task schedule(std::chrono::milliseconds delay,
                                                std::function<void()> task) = 0;
  // Sends `request` to its URL: "http://HOST[:PORT]/path" or "https://...",
  // HOST a name (resolved at each call) or an address; https is verified
  // against the system's trust store for HOST. HTTP/1.1, one connection per
  // call; `request.timeout` bounds it all (0: 5 s); the body is kept up to
  // 1 MiB (more is an error). `done` runs once, on the background thread,
  // with the response or why there is none. Any thread.
  virtual void fetch(client_request request, std::function<void(client_result)> done) = 0;
};

}  // namespace gateway
