// spawn(): a coroutine started with nobody waiting for it. It must start at
// once only on the loop's own thread, keep the loop running while it waits on
// something that is not an Asio operation, and end quietly on an exception.
#include <doctest/doctest.h>

#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "asio/spawn.hpp"

using namespace gateway;

namespace {
// Waits until another thread hands the completion back (by posting it): an
// operation the loop does not count as work while it is pending.
asio::awaitable<void> completed_elsewhere(std::promise<std::function<void()>>& hand_over) {
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [&](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        hand_over.set_value([shared] { (*shared)(); });
      },
      asio::use_awaitable);
}
}  // namespace

TEST_SUITE("spawn") {
  TEST_CASE("on the loop's thread it runs at once up to its first wait, then by itself") {
    asio::io_context io;
    std::vector<std::string> seen;
    auto body = [&]() -> asio::awaitable<void> {
      seen.push_back("started");
      co_await asio::post(io, asio::use_awaitable);
      seen.push_back("resumed");
    };
    asio::post(io, [&] {
      spawn(io, body());
      seen.push_back("spawn returned");
    });
    io.run();
    CHECK(seen == std::vector<std::string>{"started", "spawn returned", "resumed"});
  }

  TEST_CASE("from another thread it waits for the loop") {
    asio::io_context io;
    std::vector<std::string> seen;
    auto body = [&]() -> asio::awaitable<void> {
      seen.push_back("started");
      co_return;
    };
    spawn(io, body());  // io is not running here
    seen.push_back("spawn returned");
    io.run();
    CHECK(seen == std::vector<std::string>{"spawn returned", "started"});
  }

  TEST_CASE("the loop runs on while it waits for a completion from another thread") {
    asio::io_context io;
    std::promise<std::function<void()>> hand_over;
    auto handed = hand_over.get_future();
    bool done = false;
    auto body = [&]() -> asio::awaitable<void> {
      co_await completed_elsewhere(hand_over);
      done = true;
    };
    std::thread other([&] {
      std::function<void()> complete = handed.get();  // once the coroutine waits
      asio::post(io, std::move(complete));
    });
    asio::post(io, [&] { spawn(io, body()); });
    io.run();  // returns only when nothing is left: the coroutine counts
    other.join();
    CHECK(done);
  }

  TEST_CASE("an exception ends the coroutine alone") {
    asio::io_context io;
    bool other_done = false;
    auto throws = [&]() -> asio::awaitable<void> {
      co_await asio::post(io, asio::use_awaitable);
      throw std::runtime_error("dropped");
    };
    auto other = [&]() -> asio::awaitable<void> {
      co_await asio::post(io, asio::use_awaitable);
      co_await asio::post(io, asio::use_awaitable);
      other_done = true;
    };
    asio::post(io, [&] {
      spawn(io, throws());
      spawn(io, other());
    });
    CHECK_NOTHROW(io.run());
    CHECK(other_done);
  }
}
