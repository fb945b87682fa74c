#pragma once
// A host's loop for tests that mount a gateway on one (<gateway/asio.hpp>).
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <thread>

namespace gwtest {

// Runs `ioc` on a thread of its own until stop() (the host's loop).
struct host_loop {
  boost::asio::io_context ioc{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(ioc);
  std::thread thread{[this] { ioc.run(); }};
  ~host_loop() { stop(); }
  void stop() {
    work.reset();
    ioc.stop();
    if (thread.joinable()) thread.join();
  }
  // Runs `f` on the loop and returns its result.
  template <class F>
  auto on_loop(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(ioc, [&task] { task(); });
    return result.get();
  }
};

}  // namespace gwtest
