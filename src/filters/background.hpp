#pragma once
// The process's background thread for filter factories: what
// filter_factory_context::services() gives (tasks, timers, HTTP calls), and,
// for the built-in filters, its executor, on which their own coroutines run
// (the JWKS fetcher, the Redis client). Started at first use; it lives as long
// as the process, so a factory released on it (its last reference dropped by
// a task) never has to join the thread it runs on.
#include <gateway/filter_services.hpp>

#include "asio/asio.hpp"

namespace gateway::filters {

class background final : public filter_services {
 public:
  // The one instance; its thread starts on the first call.
  static background& get();

  asio::any_io_executor executor() noexcept { return io_.get_executor(); }

  void post(std::function<void()> task) override;
  scheduled_task schedule(std::chrono::milliseconds delay, std::function<void()> task) override;
  void fetch(client_request request, std::function<void(client_result)> done) override;

 private:
  background();
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
};

// The executor of `s` when it is the gateway's background (as every
// filter_factory_context gives), else the background's own.
asio::any_io_executor executor_of(filter_services& s) noexcept;

}  // namespace gateway::filters
