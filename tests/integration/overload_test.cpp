// The overload manager driven by real resources: this process's open
// descriptors (files the test opens) and its heap (memory the test holds)
// pushed past thresholds set just above what the process uses, then let go.
#include <gateway/asio.hpp>

#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway_fixture.hpp"
#include "server/overload.hpp"
#include "shell_run.hpp"
#include "test_http.hpp"

using namespace gwtest;
using namespace std::chrono_literals;

namespace {

const std::string get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

// Descriptors /dev/null holds open, until released.
class descriptors {
 public:
  ~descriptors() { release(); }
  // Opens more until the process has at least `total` (bounded).
  void raise_to(std::uint64_t total) {
    for (int i = 0; i < 100000 && gateway::sample_resources().descriptors < total; ++i) {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      fds_.push_back(fd);
    }
  }
  void release() {
    for (int fd : fds_)
      ::close(fd);
    fds_.clear();
  }

 private:
  std::vector<int> fds_;
};

struct watched_gateway {
  captured_log log;
  std::unique_ptr<gateway::server> server;
  watched_gateway(std::uint16_t upstream, const gateway::overload_options& o) {
    gateway::server_options options;
    options.threads = 1;
    options.level = gateway::log_level::info;
    options.sink = log.sink();
    options.overload = o;
    server = std::make_unique<gateway::server>(proxy_config({upstream}), std::move(options));
    server->start();
  }
  long long state() { return metric(*server, "gateway_overload_state"); }
  long long hits(const std::string& limit) {
    return metric(*server, "gateway_limit_hits_total{limit=\"" + limit + "\"}");
  }
};

gateway::overload_options fast() {
  gateway::overload_options o;
  o.interval = 20ms;
  return o;
}

}  // namespace

TEST_SUITE("overload") {
  TEST_CASE(
      "past a soft descriptor threshold: no new connections and keep-alive off until it recovers") {
    test_upstream up;
    auto o = fast();
    const std::uint64_t soft = gateway::sample_resources().descriptors + 100;
    o.descriptors_soft = soft;
    watched_gateway gw(up.port(), o);
    REQUIRE(gw.state() == 0);
    test_client a(gw.server->port());
    REQUIRE(a.send(get));
    auto first = a.read_response();
    CHECK(first.status == 200);
    CHECK(first.header("connection").empty());  // keep-alive while normal

    descriptors held;
    held.raise_to(soft + 5);
    REQUIRE(eventually([&] { return gw.state() == 1; }));
    test_client refused(gw.server->port());
    CHECK(refused.closed_by_peer());
    CHECK(gw.hits("overload_connections") == 1);
    REQUIRE(a.send(get));  // a connection it holds is served, and told to go
    auto second = a.read_response();
    CHECK(second.status == 200);
    CHECK(second.header("connection") == "close");
    CHECK(a.closed_by_peer());

    held.release();
    REQUIRE(eventually([&] { return gw.state() == 0; }));
    test_client later(gw.server->port());  // accepted again
    REQUIRE(later.send(get));
    auto third = later.read_response();
    CHECK(third.status == 200);
    CHECK(third.header("connection").empty());
    CHECK(metric(*gw.server, "gateway_overload_transitions_total{to=\"saturated\"}") == 1);
    CHECK(metric(*gw.server, "gateway_overload_transitions_total{to=\"normal\"}") == 1);
    CHECK(gw.log.count("overload: normal -> saturated") == 1);
    CHECK(gw.log.count("overload: saturated -> normal") == 1);
  }

  TEST_CASE("mounted on a host's loop: sampled there with no thread, stopped from another thread") {
    test_upstream up;
    auto o = fast();
    const std::uint64_t soft = gateway::sample_resources().descriptors + 100;
    o.descriptors_soft = soft;
    gateway::server_options options;
    options.overload = o;
    boost::asio::io_context loop{1};  // outlives the server
    gateway::server gw(proxy_config({up.port()}), std::move(options));
    auto work = boost::asio::make_work_guard(loop);
    std::thread host([&] { loop.run(); });
    const std::size_t threads = thread_count();
    gateway::start_on(gw, loop);
    CHECK(thread_count() == threads);
    CHECK(metric(gw, "gateway_overload_state") == 0);

    descriptors held;
    held.raise_to(soft + 5);
    REQUIRE(eventually([&] { return metric(gw, "gateway_overload_state") == 1; }));
    test_client refused(gw.port());
    CHECK(refused.closed_by_peer());
    held.release();
    REQUIRE(eventually([&] { return metric(gw, "gateway_overload_state") == 0; }));
    CHECK(request(gw.port(), get).status == 200);

    // Stopped from this thread while its timer waits on the loop: the loop
    // goes on, and the wait ends there at its next tick without the monitor.
    gw.stop(1s);
    std::promise<void> later;
    boost::asio::steady_timer after(loop, 3 * o.interval);
    after.async_wait([&](const boost::system::error_code&) { later.set_value(); });
    later.get_future().wait();
    work.reset();
    host.join();  // nothing of the gateway's is left on the loop
  }

  TEST_CASE("descriptors: the count is the entries of /proc/self/fd") {
    std::uint64_t listed = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
      ++listed;
    // The walk held one more, its own.
    CHECK(gateway::sample_resources().descriptors == listed - 1);
  }

  TEST_CASE("past a hard threshold: idle connections close, a request under way gets 503") {
    test_upstream up;
    auto o = fast();
    const std::uint64_t base = gateway::sample_resources().descriptors;
    o.descriptors_soft = base + 100;
    o.descriptors_hard = base + 200;
    watched_gateway gw(up.port(), o);
    test_client idle(gw.server->port());
    REQUIRE(idle.send(get));
    REQUIRE(idle.read_response().status == 200);
    test_client partial(gw.server->port());
    REQUIRE(partial.send("GET / HTTP/1.1\r\nHost: a\r\n"));  // its head under way

    descriptors held;
    held.raise_to(base + 205);
    REQUIRE(eventually([&] { return gw.state() == 2; }));
    CHECK(idle.closed_by_peer());  // waiting for a request: closed
    REQUIRE(partial.send("\r\n"));
    auto shed = partial.read_response();
    CHECK(shed.status == 503);
    CHECK(shed.header("connection") == "close");
    CHECK(gw.hits("overload_requests") == 1);
    CHECK(up.requests() == 1);

    held.release();
    REQUIRE(eventually([&] { return gw.state() == 0; }));
    test_client later(gw.server->port());
    REQUIRE(later.send(get));
    CHECK(later.read_response().status == 200);
    CHECK(gw.log.count("-> shedding") == 1);
  }

  TEST_CASE("HTTP/2: saturated, the next stream is served with a GOAWAY - shedding, none is") {
    test_upstream up;
    // The client asks once, then (at the test's signal, once the gateway is
    // overloaded) twice more on the same connection.
    auto overloaded = [&](bool hard) {
      auto o = fast();
      const std::uint64_t base = gateway::sample_resources().descriptors;
      o.descriptors_soft = base + 100;
      if (hard) o.descriptors_hard = base + 200;
      watched_gateway gw(up.port(), o);
      temp_dir dir;
      const std::string signal = dir.path + "/go";
      std::string got;
      const std::size_t before = up.requests();
      std::thread client([&] { got = h2_attack("later", gw.server->port(), "/ " + signal); });
      descriptors held;
      const bool first = eventually([&] { return gw.state() == 0 && up.requests() > before; }, 20s);
      held.raise_to(base + (hard ? 205 : 105));
      const bool reached = eventually([&] { return gw.state() == (hard ? 2 : 1); });
      std::ofstream(signal) << "go";
      client.join();
      CHECK(first);
      CHECK(reached);
      held.release();
      CHECK(eventually([&] { return gw.state() == 0; }));
      return got;
    };
    // A later stream is refused (REFUSED_STREAM) or left unanswered past
    // the GOAWAY's last stream: either way unprocessed, safe to send again.
    const std::set<std::string> unprocessed{"rst 7", "unprocessed"};
    // "200; 200; rst 7 | goaway 0 last 3": each stream's outcome, then how it ended.
    auto streams_of = [](const std::string& got) {
      std::vector<std::string> out;
      const std::string list = got.substr(0, got.find(" | "));
      for (std::size_t at = 0; at <= list.size();) {
        const std::size_t end = std::min(list.find("; ", at), list.size());
        out.push_back(list.substr(at, end - at));
        at = end + 2;
      }
      return out;
    };
    // Keep-alive off: the stream that comes is served and the GOAWAY names
    // it the last; the one sent with it is not processed.
    const std::string saturated = overloaded(false);
    CAPTURE(saturated);
    const auto s = streams_of(saturated);
    REQUIRE(s.size() == 3);
    CHECK(s[0] == "200");
    CHECK(s[1] == "200");
    CHECK(unprocessed.count(s[2]) == 1);
    CHECK(saturated.ends_with(" | goaway 0 last 3"));
    // Shedding: neither later stream is processed, and the connection is
    // told to go once (by the worker's sweep, naming the stream served, or
    // at the first stream refused: whichever came first).
    const std::string shed = overloaded(true);
    CAPTURE(shed);
    const auto h = streams_of(shed);
    REQUIRE(h.size() == 3);
    CHECK(h[0] == "200");
    CHECK(unprocessed.count(h[1]) == 1);
    CHECK(unprocessed.count(h[2]) == 1);
    CHECK(shed.find(" | goaway 0 last ") != std::string::npos);
    CHECK(shed.find(',') == std::string::npos);  // one GOAWAY
  }

  TEST_CASE("a heap threshold: memory held past it saturates, freed it recovers") {
    test_upstream up;
    auto o = fast();
    const std::uint64_t soft = gateway::sample_resources().heap + (64u << 20);
    o.heap_soft = soft;
    watched_gateway gw(up.port(), o);
    REQUIRE(gw.state() == 0);
    {
      // Touched, so a resident-set measure sees it too.
      auto held = std::make_unique<char[]>(160u << 20);
      std::memset(held.get(), 1, 160u << 20);
      REQUIRE(eventually([&] { return gw.state() == 1; }));
      CHECK(metric(*gw.server, "gateway_overload_resource{resource=\"heap_bytes\"}") >=
            static_cast<long long>(soft));
      test_client refused(gw.server->port());
      CHECK(refused.closed_by_peer());
    }
    // glibc gives a large block back to the system at once; the resident set
    // of a sanitizer's allocator may keep it, which the heap measure does not.
    REQUIRE(eventually([&] { return gw.state() == 0; }));
    test_client later(gw.server->port());
    REQUIRE(later.send(get));
    CHECK(later.read_response().status == 200);
  }

  TEST_CASE("a soft threshold above its hard one is refused before anything starts") {
    gateway::server_options options;
    options.overload.descriptors_soft = 200;
    options.overload.descriptors_hard = 100;
    CHECK_THROWS_WITH_AS(gateway::server(proxy_config({1}), options),
                         doctest::Contains("soft threshold above its hard one"), gateway::error);
  }
}
