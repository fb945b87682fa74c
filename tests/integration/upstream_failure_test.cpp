#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

TEST_SUITE("upstream failures") {
  TEST_CASE("upstream down (connection refused): 503, and the gateway keeps serving") {
    std::uint16_t dead_port;
    {
      test_upstream gone;
      dead_port = gone.port();
    }  // closed: connecting to it is refused
    test_upstream alive;
    auto cfg = proxy_config({dead_port});
    cfg.clusters.push_back(cluster("alive", {alive.port()}));
    gateway::route_rule ok_rule;
    ok_rule.matches.push_back({{gateway::path_match_type::prefix, "/ok"}, {}, {}, {}});
    ok_rule.backends.push_back({"alive", 1});
    cfg.listeners[0].routes[0].rules.insert(cfg.listeners[0].routes[0].rules.begin(), ok_rule);
    running_gateway gw(cfg);
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto r = c.read_response();
    CHECK(r.status == 503);
    CHECK(r.body.find("connect") != std::string::npos);
    // Same client connection, other route: still served.
    REQUIRE(c.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(c.read_response().status == 200);
  }

  TEST_CASE("a cluster without endpoints answers 503") {
    auto cfg = proxy_config({});
    running_gateway gw(cfg);
    CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 503);
  }

  TEST_CASE("slow upstream: 504 at the configured request timeout") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.delay = std::chrono::seconds(3);
      p.body = "late";
      return p;
    });
    test_upstream fast;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].routes[0].rules[0].request_timeout = std::chrono::milliseconds(1000);
    cfg.clusters.push_back(cluster("fast", {fast.port()}));
    gateway::route_rule ok_rule;
    ok_rule.matches.push_back({{gateway::path_match_type::prefix, "/ok"}, {}, {}, {}});
    ok_rule.backends.push_back({"fast", 1});
    cfg.listeners[0].routes[0].rules.insert(cfg.listeners[0].routes[0].rules.begin(), ok_rule);
    running_gateway gw(cfg);  // one worker: the hanging request shares it
    auto start = std::chrono::steady_clock::now();
    client_response r;
    std::atomic<bool> answered{false};
    std::thread hanging([&] {
      r = request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
      answered = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // Meanwhile other requests flow, all before the hanging one times out.
    for (int i = 0; i < 5; ++i)
      CHECK(request(gw.port(), "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").status == 200);
    CHECK(!answered.load());
    hanging.join();
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 504);
    CHECK(took >= std::chrono::milliseconds(990));  // not early; the 504 says it was the timeout
  }

  TEST_CASE("the listener's request timeout applies when the rule sets none") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.delay = std::chrono::seconds(3);
      return p;
    });
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.request_timeout = std::chrono::milliseconds(200);
    running_gateway gw(cfg);
    CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 504);
  }

  TEST_CASE("a connect that never completes: 503 at the connect timeout") {
    // A listener with a full accept queue drops new SYNs, so a connect hangs.
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lfd, 0) == 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(fd);
    }
    auto cfg = proxy_config({ntohs(a.sin_port)});
    cfg.clusters[0].connect_timeout = std::chrono::milliseconds(300);
    {
      running_gateway gw(cfg);
      auto start = std::chrono::steady_clock::now();
      auto r = request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
      auto took = std::chrono::steady_clock::now() - start;
      CHECK(r.status == 503);
      CHECK(took >= std::chrono::milliseconds(290));  // not early; the 503 says it gave up
    }
    for (int fd : fillers)
      ::close(fd);
    ::close(lfd);
  }

  TEST_CASE("garbage instead of a response: 502, and the same client connection goes on") {
    test_upstream up(answer_raw("this is not http\r\n\r\n", true));
    test_upstream fine;
    auto cfg = proxy_config({up.port()});
    cfg.clusters.push_back(cluster("fine", {fine.port()}));
    gateway::route_rule ok_rule;
    ok_rule.matches.push_back({{gateway::path_match_type::prefix, "/ok"}, {}, {}, {}});
    ok_rule.backends.push_back({"fine", 1});
    cfg.listeners[0].routes[0].rules.insert(cfg.listeners[0].routes[0].rules.begin(), ok_rule);
    running_gateway gw(cfg);
    test_client c(gw.port());
    for (int i = 0; i < 3; ++i) {
      REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      CHECK(c.read_response().status == 502);
      REQUIRE(c.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"));
      CHECK(c.read_response().status == 200);
    }
  }

  TEST_CASE("upstream closes without answering: 502") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.no_response = true;
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 502);
  }

  TEST_CASE(
      "upstream dies mid-body: the client sees a cut response and the gateway keeps serving") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      if (r.target == "/cut") {
        p.raw = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly-part";
        p.close_after = true;
      } else {
        p.body = "fine";
      }
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET /cut HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto r = c.read_response();
    CHECK(r.status == -200);  // head arrived, body cut short
    CHECK(c.closed_by_peer());
    CHECK(request(gw.port(), "GET /next HTTP/1.1\r\nHost: a\r\n\r\n").body == "fine");
  }
}
