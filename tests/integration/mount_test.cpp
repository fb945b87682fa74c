// A gateway mounted on a host's io_context (<gateway/asio.hpp>): it serves on
// the host's thread, control calls work from that thread and from others,
// and it stops either way without leaving work behind on the host's loop.
#include <gateway/asio.hpp>

#include <doctest/doctest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include <unistd.h>

#include <filesystem>
#include <thread>

#include "gateway_fixture.hpp"
#include "host_loop.hpp"
#include "test_http.hpp"

using namespace gwtest;
using namespace std::chrono_literals;

namespace {

std::string get_root() {
  return "GET /x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
}

}  // namespace

TEST_SUITE("mounted") {
  TEST_CASE("serves on the host's loop, stops from another thread, refuses stop on the loop") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      p.body = "x-reloaded: " + r.header("x-reloaded");
      return p;
    });
    host_loop host;
    gateway::server gw(proxy_config({up.port()}));
    const std::size_t threads_before = thread_count();
    gateway::start_on(gw, host.ioc);
    CHECK(thread_count() == threads_before);  // no worker (or monitor, or watcher) thread
    CHECK(request(gw.port(), get_root()).status == 200);

    // On the loop: stats and reload work (they would otherwise wait for the
    // loop itself); stop is refused with a pointer to async_stop.
    CHECK(host.on_loop([&] { return gw.stats_text(); }).find("gateway_requests_total") !=
          std::string::npos);
    auto next = proxy_config({up.port()});
    next.listeners[0].routes[0].rules[0].request_headers.set.push_back({"x-reloaded", "yes"});
    host.on_loop([&] {
      gw.reload(next);
      return 0;
    });
    CHECK(gw.config_version() == 2);
    auto served = request(gw.port(), get_root());
    CHECK(served.status == 200);
    CHECK(served.body.find("x-reloaded: yes") != std::string::npos);
    const std::string refused = host.on_loop([&]() -> std::string {
      try {
        gw.stop(100ms);
        return "stopped";
      } catch (const gateway::error& e) {
        return e.what();
      }
    });
    CHECK(refused.find("use gateway::async_stop") != std::string::npos);

    // From another thread it drains and waits for the loop to finish the
    // gateway's work; the host's loop goes on.
    const auto port = gw.port();
    gw.stop(1s);
    CHECK(!process_listens_on(port));
    CHECK(host.on_loop([] { return 7; }) == 7);
  }

  TEST_CASE("async_stop from a timer or a signal handler on the host's own loop") {
    test_upstream up(echo);
    for (const bool by_signal : {false, true}) {
      CAPTURE(by_signal);
      boost::asio::io_context ioc(1);
      gateway::server gw(proxy_config({up.port()}));
      gateway::start_on(gw, ioc);
      const auto port = gw.port();
      bool done = false;
      auto stop_here = [&] { gateway::async_stop(gw, 1s, [&] { done = true; }); };
      boost::asio::steady_timer timer(ioc);
      boost::asio::signal_set signals(ioc, SIGUSR1);
      std::atomic<bool> served{false};
      std::thread client([&] {
        served = request(port, get_root()).status == 200;
        if (by_signal) ::kill(::getpid(), SIGUSR1);
      });
      // Fires once the client has its answer (polled on the loop itself); it
      // lives as long as the loop runs, since its handlers call it again.
      std::function<void()> poll = [&] {
        timer.expires_after(5ms);
        timer.async_wait([&](const boost::system::error_code&) {
          if (served) {
            stop_here();
          } else {
            poll();
          }
        });
      };
      if (by_signal) {
        signals.async_wait([&](const boost::system::error_code& ec, int) {
          if (!ec) stop_here();
        });
      } else {
        poll();
      }
      // A deadlock would hold this thread inside the handler for good: a
      // watchdog ends the test process with a message instead of hanging.
      std::atomic<bool> returned{false};
      std::thread watchdog([&] {
        for (int i = 0; i < 3000 && !returned; ++i)
          std::this_thread::sleep_for(10ms);
        if (!returned) {
          std::fputs("async_stop deadlocked on the host's loop\n", stderr);
          std::_Exit(1);
        }
      });
      ioc.run_for(20s);
      returned = true;
      watchdog.join();
      client.join();
      CHECK(served.load());
      CHECK(done);
      CHECK(!process_listens_on(port));
    }
  }

  TEST_CASE("async_stop drains on the loop and leaves it with no work") {
    test_upstream up(echo);
    boost::asio::io_context ioc(1);
    auto gw = std::make_unique<gateway::server>(proxy_config({up.port()}));
    gateway::start_on(*gw, ioc);
    const auto port = gw->port();
    bool done = false;
    std::thread::id done_on;
    int calls = 0;
    std::thread client([&] {
      CHECK(request(port, get_root()).status == 200);
      gateway::async_stop(*gw, 1s, [&] {
        done = true;
        done_on = std::this_thread::get_id();
        ++calls;
      });
      gateway::async_stop(*gw, 1s, [&] { ++calls; });  // while draining: the same end
    });
    // Returns once the gateway has nothing left on the loop: no work guard.
    ioc.run_for(10s);
    client.join();
    CHECK(done);
    CHECK(done_on == std::this_thread::get_id());
    CHECK(ioc.stopped());
    CHECK(calls == 2);
    // On a stopped gateway it only calls back (on the loop).
    bool again_done = false;
    gateway::async_stop(*gw, 1s, [&] { again_done = true; });
    ioc.restart();
    ioc.run_for(5s);
    CHECK(again_done);
    gw.reset();  // safe after `done`
    CHECK(!process_listens_on(port));
    gateway::server unmounted(proxy_config({up.port()}));
    CHECK_THROWS_AS(gateway::async_stop(unmounted, 1s, [] {}), gateway::error);
  }
}
