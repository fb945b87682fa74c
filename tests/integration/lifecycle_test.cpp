#include <doctest/doctest.h>

#include <atomic>
#include <future>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

TEST_SUITE("lifecycle") {
  TEST_CASE(
      "graceful stop: in-flight requests finish, idle connections close, new ones are refused") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      if (r.target == "/slow") p.delay = std::chrono::milliseconds(400);
      p.body = "done";
      return p;
    });
    auto gw = std::make_unique<running_gateway>(proxy_config({up.port()}), 2);
    std::uint16_t port = gw->port();

    test_client idle(port);
    REQUIRE(idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    REQUIRE(idle.read_response().status == 200);

    test_client busy(port);
    REQUIRE(busy.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"));
    // Let the slow request reach the upstream before stopping.
    for (int i = 0; i < 200 && up.requests() < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(up.requests() == 2);

    auto stopped =
        std::async(std::launch::async, [&] { gw->server().stop(std::chrono::seconds(5)); });
    CHECK(idle.closed_by_peer(std::chrono::seconds(2)));
    auto r = busy.read_response(false, std::chrono::seconds(5));
    CHECK(r.status == 200);
    CHECK(r.body == "done");
    CHECK(r.header("connection") == "close");
    REQUIRE(stopped.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    CHECK(!process_listens_on(port));
  }

  TEST_CASE("stop closes requests still running at the drain deadline") {
    // The upstream holds the request until the test lets it go (or 30 s pass): a
    // stop that waited for the request instead of its deadline would return only
    // after the upstream answered.
    std::atomic<bool> release{false}, answered{false};
    test_upstream up([&](const received_request&) {
      for (int i = 0; i < 3000 && !release; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      answered = true;
      return response_plan{};
    });
    running_gateway gw(proxy_config({up.port()}));
    test_client busy(gw.port());
    REQUIRE(busy.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    for (int i = 0; i < 200 && up.requests() < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    gw.server().stop(std::chrono::milliseconds(200));
    CHECK(!answered.load());
    CHECK(busy.closed_by_peer(std::chrono::seconds(5)));
    release = true;
  }

  TEST_CASE("several workers share one port and all serve") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}), 4);
    std::vector<std::unique_ptr<test_client>> clients;
    for (int i = 0; i < 16; ++i) {
      clients.push_back(std::make_unique<test_client>(gw.port()));
      REQUIRE(clients.back()->send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    }
    for (auto& c : clients)
      CHECK(c->read_response().status == 200);
  }

  TEST_CASE("start on a port in use fails with a clear error") {
    test_upstream up;
    running_gateway first(proxy_config({up.port()}));
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].bind_port = up.port();  // taken by the test upstream (no SO_REUSEPORT)
    gateway::server second(cfg);
    try {
      second.start();
      FAIL("start succeeded on a busy port");
    } catch (const gateway::error& e) {
      CHECK(e.code() == gateway::errc::bind_failed);
      CHECK(std::string(e.what()).find("cannot listen on 127.0.0.1:") != std::string::npos);
    }
  }

  TEST_CASE("an invalid config is refused before anything starts") {
    auto cfg = proxy_config({8080});
    cfg.listeners[0].routes[0].rules[0].backends[0].cluster = "missing";
    CHECK_THROWS_AS(gateway::server{cfg}, gateway::error);
  }
}
