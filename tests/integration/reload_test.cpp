// Hot reload while traffic flows: no request fails, each is served whole by
// one config, invalid configs change nothing, sockets and pools that did not
// change are kept.
#include <doctest/doctest.h>

#include <gateway/error.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

handler answer(std::string body, std::chrono::milliseconds delay = {}) {
  return [body = std::move(body), delay](const received_request&) {
    response_plan p;
    p.body = body;
    p.delay = delay;
    return p;
  };
}

// One listener "test" whose only route sends everything to cluster `name`.
gateway::gateway_config config_to(const std::string& name, std::uint16_t upstream_port) {
  gateway::gateway_config cfg = proxy_config({upstream_port});
  cfg.clusters.front().name = name;
  cfg.listeners.front().routes.front().rules.front().backends.front().cluster = name;
  return cfg;
}

// A config the snapshot builder rejects: its route names a cluster that does not exist.
gateway::gateway_config invalid_config(std::uint16_t upstream_port) {
  gateway::gateway_config cfg = config_to("a", upstream_port);
  cfg.listeners.front().routes.front().rules.front().backends.front().cluster = "missing";
  return cfg;
}

client_response get(test_client& c, const std::string& path = "/") {
  if (!c.send("GET " + path + " HTTP/1.1\r\nHost: example.com\r\n\r\n")) return {};
  return c.read_response();
}

}  // namespace

TEST_SUITE("reload") {
  TEST_CASE("50 reloads and 10 invalid ones under load: no request fails, none is mixed") {
    test_upstream a(answer("A")), b(answer("B"));
    running_gateway gw(config_to("a", a.port()), 2);
    const std::uint16_t port = gw.port();

    constexpr int clients = 8;
    std::atomic<bool> done{false};
    std::atomic<int> failures{0}, from_a{0}, from_b{0};
    std::atomic<int> ready{0};
    std::vector<std::string> failure_text(clients);
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        // One keep-alive connection each, opened before the first reload.
        test_client c(port);
        bool first = true;
        // Bounded: the main thread sets `done` after a fixed number of reloads.
        for (int n = 0; n < 1000000 && !done.load(); ++n) {
          client_response r = get(c);
          if (first) {
            first = false;
            ready.fetch_add(1);
          }
          if (r.status == 200 && r.body == "A") {
            from_a.fetch_add(1);
          } else if (r.status == 200 && r.body == "B") {
            from_b.fetch_add(1);
          } else {
            failures.fetch_add(1);
            failure_text[i] = "status " + std::to_string(r.status) + " body '" + r.body + "'";
            return;  // the connection is unusable now
          }
        }
      });
    }
    for (int i = 0; i < 500 && ready.load() < clients; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(ready.load() == clients);

    test_client idle_before(port);  // opened before the reloads, used only after them
    REQUIRE(get(idle_before).body == "A");

    int valid = 0, rejected = 0;
    for (int i = 0; i < 60; ++i) {
      const std::uint64_t version = gw.server().config_version();
      if (i % 6 == 5) {
        CHECK_THROWS_AS(gw.server().reload(invalid_config(a.port())), gateway::error);
        CHECK(gw.server().config_version() == version);
        ++rejected;
      } else {
        gw.server().reload(valid % 2 == 0 ? config_to("b", b.port()) : config_to("a", a.port()));
        CHECK(gw.server().config_version() == version + 1);
        ++valid;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
    done.store(true);
    for (auto& t : threads)
      t.join();
    for (const auto& text : failure_text)
      CHECK_MESSAGE(text.empty(), text);
    CHECK(valid == 50);
    CHECK(rejected == 10);
    CHECK(failures.load() == 0);
    CHECK(from_a.load() > 0);
    CHECK(from_b.load() > 0);
    MESSAGE("requests served: ", from_a.load() + from_b.load());

    // A connection that sat idle across all of it serves its next request from
    // the config current when that request arrives.
    gw.server().reload(config_to("b", b.port()));
    client_response last = get(idle_before);
    CHECK(last.status == 200);
    CHECK(last.body == "B");
  }

  TEST_CASE("a request in flight finishes on the config it started with") {
    test_upstream slow(answer("old", std::chrono::milliseconds(300))), fresh(answer("new"));
    running_gateway gw(config_to("old", slow.port()));
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    for (int i = 0; i < 200 && slow.requests() < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(slow.requests() == 1);
    // The new config drops the cluster the request is using.
    gw.server().reload(config_to("new", fresh.port()));
    client_response r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "old");
    // The same connection's next request is served by the new config.
    CHECK(get(c).body == "new");
  }

  TEST_CASE("clusters whose definition did not change keep their pooled connections") {
    test_upstream up(answer("ok"));
    running_gateway gw(config_to("a", up.port()));
    test_client c(gw.port());
    REQUIRE(get(c).status == 200);
    REQUIRE(up.connections() == 1);

    SUBCASE("unchanged cluster, changed route: the pooled connection is reused") {
      gateway::gateway_config next = config_to("a", up.port());
      next.listeners.front().routes.front().rules.front().request_timeout = std::chrono::seconds(3);
      gw.server().reload(next);
      CHECK(get(c).status == 200);
      CHECK(up.connections() == 1);
    }
    SUBCASE("changed cluster definition: a new pool, the old connection is closed") {
      gateway::gateway_config next = config_to("a", up.port());
      next.clusters.front().connect_timeout = std::chrono::seconds(1);
      gw.server().reload(next);
      CHECK(get(c).status == 200);
      CHECK(up.connections() == 2);
      for (int i = 0; i < 200 && up.closed() < 1; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      CHECK(up.closed() >= 1);
    }
  }

  TEST_CASE("listeners added by a reload open, removed ones close") {
    test_upstream up(answer("ok"));
    running_gateway gw(config_to("a", up.port()));
    const std::uint16_t first_port = gw.port();
    test_client idle_on_first(first_port);
    REQUIRE(get(idle_on_first).status == 200);

    gateway::gateway_config both = config_to("a", up.port());
    both.listeners.push_back(both.listeners.front());
    both.listeners.back().name = "second";
    gw.server().reload(both);
    const std::uint16_t second_port = gw.server().port("second");
    CHECK(second_port != first_port);
    CHECK(gw.server().port("test") == first_port);  // kept, not reopened
    test_client on_second(second_port);
    CHECK(get(on_second).status == 200);
    CHECK(get(idle_on_first).status == 200);

    gateway::gateway_config only_second = both;
    only_second.listeners.erase(only_second.listeners.begin());
    gw.server().reload(only_second);
    CHECK(idle_on_first.closed_by_peer(std::chrono::seconds(2)));
    CHECK_THROWS_AS(gw.server().port("test"), gateway::error);
    CHECK(!process_listens_on(first_port));
    CHECK(process_listens_on(second_port));
    CHECK(get(on_second).status == 200);
  }

  TEST_CASE("a config that cannot be applied changes nothing and says why") {
    test_upstream up(answer("ok"));
    running_gateway gw(config_to("a", up.port()));
    const std::uint64_t version = gw.server().config_version();

    SUBCASE("invalid reference") {
      std::error_code ec;
      std::string message;
      gw.server().reload(invalid_config(up.port()), ec, message);
      CHECK(ec == gateway::errc::invalid_config);
      CHECK(message.find("unknown cluster 'missing'") != std::string::npos);
    }
    SUBCASE("a new listener whose port is taken") {
      // A socket without SO_REUSEPORT holds the port, so the gateway cannot share it.
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      REQUIRE(fd >= 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
      REQUIRE(::listen(fd, 1) == 0);
      socklen_t len = sizeof addr;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);

      gateway::gateway_config next = config_to("a", up.port());
      next.listeners.push_back(next.listeners.front());
      next.listeners.back().name = "taken";
      next.listeners.back().bind_port = ntohs(addr.sin_port);
      std::error_code ec;
      std::string message;
      gw.server().reload(next, ec, message);
      ::close(fd);
      CHECK(ec == gateway::errc::bind_failed);
      CHECK(message.find("cannot listen") != std::string::npos);
      CHECK_THROWS_AS(gw.server().port("taken"), gateway::error);
    }
    CHECK(gw.server().config_version() == version);
    test_client c(gw.port());
    CHECK(get(c).body == "ok");
  }
}
