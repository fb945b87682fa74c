// Upstreams that answer wrongly on purpose. Each case gets the client a clean
// error (502), or the response cut short when its head had already gone out,
// and then proves two things: the client's connection is still in step (a
// request after it on the same connection is answered by a healthy upstream,
// or the gateway closed it), and the bad upstream connection was not reused.
#include <atomic>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "shell_run.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

// A route /bad to `bad_port` and /ok to a healthy upstream, on one gateway.
gateway::gateway_config two_routes(std::uint16_t bad_port, std::uint16_t ok_port) {
  auto cfg = proxy_config({bad_port});
  cfg.clusters.push_back(cluster("fine", {ok_port}));
  gateway::route_rule ok_rule;
  ok_rule.matches.push_back({{gateway::path_match_type::prefix, "/ok"}, {}, {}, {}});
  ok_rule.backends.push_back({"fine", 1});
  cfg.listeners[0].routes[0].rules.insert(cfg.listeners[0].routes[0].rules.begin(), ok_rule);
  return cfg;
}

// After a bad answer on `c`: either the gateway closed the connection, or it
// is still in step and the next request is served whole.
void still_in_step(test_client& c) {
  REQUIRE(c.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"));
  const auto r = c.read_response();
  CHECK(r.status == 200);
}

// Two requests for /bad: each answered 502 on a client connection still in
// step, and each on a new connection to `bad` (the bad one is never reused).
template <class Upstream>
void refused_without_reuse(const Upstream& bad) {
  test_upstream ok;
  running_gateway gw(two_routes(bad.port(), ok.port()));
  test_client c(gw.port());
  for (int i = 0; i < 2; ++i) {
    REQUIRE(c.send("GET /bad HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(c.read_response().status == 502);
    still_in_step(c);
  }
  CHECK(bad.connections() == 2);
}

// A 32 MiB upload to /bad, whose upstream runs `then` after the head and
// never reads the body. The upload stalls once the buffers on the way are
// full; the gateway answers while the client is still sending, closes the
// client connection after that answer, and goes on serving others.
template <class Script>
client_response upload_to_non_reader(Script then) {
  scripted_upstream bad(
      [&](int fd, const std::string&, const std::atomic<bool>& stop) { then(fd, stop); });
  test_upstream ok;
  auto cfg = two_routes(bad.port(), ok.port());
  cfg.listeners[0].limits.stream_idle_timeout = 500ms;
  running_gateway gw(cfg);
  test_client c(gw.port());
  REQUIRE(c.send("POST /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 33554432\r\n\r\n"));
  std::thread uploader([&] { c.send_pattern(32 << 20, 30s); });
  const auto r = c.read_response(false, 30s);
  uploader.join();
  CHECK(c.closed_by_peer());
  CHECK(request(gw.port(), "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").status == 200);
  return r;
}

}  // namespace

TEST_SUITE("hostile upstreams") {
  TEST_CASE("a response head with both Content-Length and Transfer-Encoding: 502, no reuse") {
    test_upstream bad(
        answer_raw("HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n0\r\n\r\n"));
    refused_without_reuse(bad);
  }

  TEST_CASE("bad chunking before anything was relayed: 502, no reuse") {
    test_upstream bad(answer_raw(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"));
    refused_without_reuse(bad);
  }

  TEST_CASE("bad chunking after the head went out: the response is cut and the connection closed") {
    std::atomic<bool> head_out{false};
    scripted_upstream bad([&](int fd, const std::string&, const std::atomic<bool>& stop) {
      send_all(fd, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
      // The bad chunk only once the client has the head and the first chunk.
      for (int i = 0; i < 500 && !head_out && !stop; ++i)
        std::this_thread::sleep_for(10ms);
      send_all(fd, "zz\r\nworld\r\n0\r\n\r\n");
      for (int i = 0; i < 100 && !stop; ++i)
        std::this_thread::sleep_for(10ms);
    });
    test_upstream ok;
    running_gateway gw(two_routes(bad.port(), ok.port()));
    test_client c(gw.port());
    REQUIRE(c.send("GET /bad HTTP/1.1\r\nHost: a\r\n\r\n"));
    const std::string head = c.read_until("hello\r\n");
    CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
    head_out = true;
    const auto rest = c.read_until("0\r\n\r\n");  // never comes: the response is cut
    CHECK(rest.find("world") == std::string::npos);
    CHECK(c.closed_by_peer());
    CHECK(request(gw.port(), "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").status == 200);
  }

  TEST_CASE("a body cut after its head went out reaches an HTTP/2 client as a reset stream") {
    scripted_upstream bad([&](int fd, const std::string&, const std::atomic<bool>& stop) {
      send_all(fd, "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello");
      for (int i = 0; i < 30 && !stop; ++i)  // then it closes: 95 bytes never come
        std::this_thread::sleep_for(10ms);
    });
    test_upstream ok;
    running_gateway gw(two_routes(bad.port(), ok.port()));
    // What came is relayed; then the stream is reset, never left open (the
    // client would wait for the rest: curl's 30 s timeout) nor ended (a part
    // taken for the whole).
    const std::string got = h2c(url(gw.port(), "/bad"));
    CAPTURE(got);
    CHECK(got.find("hello") != std::string::npos);  // curl prints it on exit, after the error
    CHECK(got.find("HTTP/2 stream 1 was not closed cleanly: INTERNAL_ERROR") != std::string::npos);
    CHECK(h2c("-o /dev/null -w '%{http_code}' " + url(gw.port(), "/ok")) == "200");
  }

  TEST_CASE("a status line without a reason phrase is a response like any other") {
    // RFC 9112 §4 allows an empty reason; "HTTP/1.1 200" without even the
    // space is accepted too, as nginx, HAProxy and Envoy accept it.
    test_upstream bad([](const received_request& r) {
      response_plan p;
      p.raw = r.target == "/bad/sp" ? "HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\nok"
                                    : "HTTP/1.1 200\r\ncontent-length: 2\r\n\r\nok";
      return p;
    });
    test_upstream ok;
    running_gateway gw(two_routes(bad.port(), ok.port()));
    test_client c(gw.port());
    for (const char* path : {"/bad/sp", "/bad/nosp"}) {
      CAPTURE(path);
      REQUIRE(c.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: a\r\n\r\n"));
      const auto r = c.read_response();
      CHECK(r.status == 200);
      CHECK(r.body == "ok");
      still_in_step(c);
    }
    CHECK(bad.connections() == 1);  // a good response: its connection is reused
  }

  TEST_CASE("a flood of interim responses: 502 after 16, no reuse") {
    std::string flood;
    for (int i = 0; i < 1000; ++i)
      flood += "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n";
    test_upstream bad(answer_raw(flood + "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    test_upstream ok;
    running_gateway gw(two_routes(bad.port(), ok.port()));
    test_client c(gw.port());
    for (int i = 0; i < 2; ++i) {
      REQUIRE(c.send("GET /bad HTTP/1.1\r\nHost: a\r\n\r\n"));
      // The first 16 went on to the client (each a complete message), then a 502.
      for (int hint = 0; hint < 16; ++hint) {
        CAPTURE(hint);
        REQUIRE(c.read_until("\r\n\r\n").rfind("HTTP/1.1 103 ", 0) == 0);
      }
      CHECK(c.read_response().status == 502);
      still_in_step(c);
    }
    CHECK(bad.connections() == 2);
  }

  TEST_CASE("a body longer than its Content-Length: the declared bytes, and no reuse") {
    test_upstream bad(answer_raw("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloEXTRA"));
    test_upstream ok;
    running_gateway gw(two_routes(bad.port(), ok.port()));
    test_client c(gw.port());
    for (int i = 0; i < 2; ++i) {
      REQUIRE(c.send("GET /bad HTTP/1.1\r\nHost: a\r\n\r\n"));
      const auto r = c.read_response();
      CHECK(r.status == 200);
      CHECK(r.body == "hello");
      still_in_step(c);
    }
    CHECK(bad.connections() == 2);
  }

  TEST_CASE("endless response headers: 502") {
    scripted_upstream bad([](int fd, const std::string&, const std::atomic<bool>& stop) {
      if (!send_all(fd, "HTTP/1.1 200 OK\r\n")) return;
      const std::string line = "x-endless: " + std::string(100, 'a') + "\r\n";
      for (int i = 0; i < 100000 && !stop; ++i)
        if (!send_all(fd, line)) return;
    });
    refused_without_reuse(bad);
  }

  TEST_CASE("101 Switching Protocols to a request that asked for no upgrade: 502") {
    test_upstream bad(answer_raw(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"
        "tunnel bytes"));
    refused_without_reuse(bad);
  }

  TEST_CASE("an upstream that never reads the request body: 504 at the idle timeout") {
    const auto r = upload_to_non_reader([](int, const std::atomic<bool>& stop) {
      while (!stop)
        std::this_thread::sleep_for(20ms);  // never reads, never answers
    });
    CHECK(r.status == 504);
  }

  TEST_CASE("an upstream that answers without reading the request body: its answer, then close") {
    const auto r = upload_to_non_reader([](int fd, const std::atomic<bool>& stop) {
      send_all(fd, "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big\n");
      while (!stop)
        std::this_thread::sleep_for(20ms);  // never reads
    });
    CHECK(r.status == 413);
    CHECK(r.body == "too big\n");
  }
}
