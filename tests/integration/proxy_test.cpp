#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {
// An upstream whose first connection answers once, then reads the next request
// and closes without answering: a keep-alive connection closing under a request.
handler drops_second_request_on_first_connection() {
  auto on_first = std::make_shared<std::atomic<int>>(0);
  return [on_first](const received_request& r) {
    response_plan p;
    p.body = "ok";
    if (r.connection_index == 0 && (*on_first)++ == 1) p.no_response = true;
    return p;
  };
}
}  // namespace

TEST_SUITE("proxy") {
  TEST_CASE("GET is forwarded with forwarding headers and a request id") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    auto r = request(
        gw.port(),
        "GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n");
    REQUIRE(r.status == 200);
    CHECK(r.body == "GET /hello?x=1 0");
    CHECK(r.header("via") == "1.1 gateway");
    auto seen = up.last();
    CHECK(seen.version == "HTTP/1.1");
    CHECK(seen.header("host") == "example.com");
    CHECK(seen.header("x-forwarded-for") == "10.1.1.1, 127.0.0.1");
    CHECK(seen.header("x-forwarded-proto") == "http");
    CHECK(seen.header("x-forwarded-host") == "example.com");
    CHECK(seen.header("via") == "1.1 gateway");
    std::string id = seen.header("x-request-id");
    REQUIRE(id.size() == 36);  // UUID v4 shape: 8-4-4-4-12, version 4, variant 10xx
    CHECK(id[8] == '-');
    CHECK(id[13] == '-');
    CHECK(id[14] == '4');
    CHECK(std::string("89ab").find(id[19]) != std::string::npos);
    CHECK(id.find_first_not_of("0123456789abcdef-") == std::string::npos);
  }

  TEST_CASE("a client that half-closes after its request gets the answer, then the close") {
    // The FIN often comes in the same read as the request, which consumes
    // it: the gateway must still see it after answering, not wait out its
    // 60 s keep-alive timeout.
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    for (int i = 0; i < 20; ++i) {
      test_client c(gw.port());
      // A first request, so that the second is read the way keep-alive
      // requests are: by a read that waited for it.
      REQUIRE(c.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\n"));
      REQUIRE(c.read_response().status == 200);
      REQUIRE(c.send("GET /half HTTP/1.1\r\nHost: a\r\n\r\n"));
      c.shut_write();
      auto r = c.read_response();
      REQUIRE(r.status == 200);
      CHECK(r.body == "GET /half 0");
      CHECK(c.closed_by_peer(20s));
    }
  }

  TEST_CASE("a client's x-request-id is kept") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    auto r = request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n\r\n");
    REQUIRE(r.status == 200);
    CHECK(up.last().header("x-request-id") == "abc-123");
    CHECK(up.last().count("x-request-id") == 1);
  }

  TEST_CASE("POST with content-length passes body and length through") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    auto r = request(gw.port(),
                     "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world");
    REQUIRE(r.status == 200);
    CHECK(r.body == "POST /submit 11");
    auto seen = up.last();
    CHECK(seen.body == "hello world");
    CHECK(seen.header("content-length") == "11");
    CHECK(!seen.chunked);
  }

  TEST_CASE("POST with a chunked body is forwarded chunked, trailers included") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(
        c.send("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
    REQUIRE(c.send("6;name=v\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r.status == 200);
    auto seen = up.last();
    CHECK(seen.chunked);
    CHECK(seen.body == "hello world");
    CHECK(seen.trailers == "X-Checksum: 42\r\n");
    CHECK(seen.header("content-length").empty());
  }

  TEST_CASE("responses: content-length, chunked, and close-delimited (rechunked for HTTP/1.1)") {
    response_plan::framing mode = response_plan::framing::content_length;
    test_upstream up([&](const received_request&) {
      response_plan p;
      p.body = "response-body";
      p.mode = mode;
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    for (auto m : {response_plan::framing::content_length, response_plan::framing::chunked,
                   response_plan::framing::until_close}) {
      mode = m;
      test_client c(gw.port());
      REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      auto r = c.read_response();
      REQUIRE(r.status == 200);
      CHECK(r.body == "response-body");
      if (m == response_plan::framing::content_length)
        CHECK(r.header("content-length") == "13");
      else
        CHECK(r.chunked);
      // The client connection survives all three.
      REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      CHECK(c.read_response().status == 200);
    }
  }

  TEST_CASE("HTTP/1.0 client gets a close-delimited body when the upstream chunks") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.body = "abc";
      p.mode = response_plan::framing::chunked;
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.0\r\n\r\n"));
    auto r = c.read_response();
    REQUIRE(r.status == 200);
    CHECK(r.body == "abc");
    CHECK(!r.chunked);
    CHECK(r.header("connection") == "close");
  }

  TEST_CASE("HEAD, 204 and 304 carry no body and keep the connection usable") {
    test_upstream up([](const received_request& rq) {
      response_plan p;
      if (rq.target == "/204") p.status = 204;
      if (rq.target == "/304") p.status = 304;
      p.body = p.status == 200 ? "twelve bytes" : "";
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto head = c.read_response(true);
    CHECK(head.status == 200);
    CHECK(head.header("content-length") == "12");
    REQUIRE(c.send("GET /204 HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(c.read_response().status == 204);
    REQUIRE(c.send("GET /304 HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(c.read_response().status == 304);
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto after = c.read_response();
    CHECK(after.status == 200);
    CHECK(after.body == "twelve bytes");
  }

  TEST_CASE("Expect: 100-continue gets an interim 100 before the body is read") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(
        c.send("PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
    std::string interim = c.read_until("\r\n\r\n");
    CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
    REQUIRE(c.send("data"));
    auto r = c.read_response();
    REQUIRE(r.status == 200);
    CHECK(up.last().body == "data");
    CHECK(up.last().header("expect").empty());
  }

  TEST_CASE("hop-by-hop headers are removed in both directions") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.body = "x";
      p.headers = {{"Connection", "X-Up-Private"},
                   {"X-Up-Private", "1"},
                   {"Keep-Alive", "timeout=5"},
                   {"X-Public", "1"}};
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    auto r =
        request(gw.port(),
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Private\r\nX-Private: s\r\n"
                "Keep-Alive: 300\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: x\r\n"
                "X-Kept: yes\r\n\r\n");
    REQUIRE(r.status == 200);
    auto seen = up.last();
    for (const char* h :
         {"connection", "x-private", "keep-alive", "te", "upgrade", "proxy-connection"})
      CHECK_MESSAGE(seen.header(h).empty(), h);
    CHECK(seen.header("x-kept") == "yes");
    CHECK(r.header("x-up-private").empty());
    CHECK(r.header("keep-alive").empty());
    CHECK(r.header("x-public") == "1");
  }

  TEST_CASE("keep-alive: 100 sequential requests use one upstream connection") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    for (int i = 0; i < 100; ++i) {
      REQUIRE(c.send("GET /n HTTP/1.1\r\nHost: a\r\n\r\n"));
      REQUIRE(c.read_response().status == 200);
    }
    CHECK(up.requests() == 100);
    CHECK(up.connections() == 1);
  }

  TEST_CASE("pipelined requests are answered in order") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(
        c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 "
               "HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(c.read_response().body == "GET /1 0");
    CHECK(c.read_response().body == "GET /2 0");
    CHECK(c.read_response().body == "GET /3 0");
  }

  TEST_CASE("a pooled connection the upstream closed meanwhile is not used") {
    // The upstream closes after each response without saying so.
    test_upstream up(answer_raw("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", true));
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    for (std::size_t i = 0; i < 3; ++i) {
      // Once the upstream has closed, its FIN is in the gateway's socket. A POST
      // is never retried, so it only succeeds if the pool notices the close
      // before sending on that connection.
      for (int wait = 0; wait < 400 && up.closed() < i; ++wait)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      REQUIRE(up.closed() == i);
      REQUIRE(c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"));
      auto r = c.read_response();
      REQUIRE(r.status == 200);
      CHECK(r.body == "ok");
    }
    CHECK(up.connections() == 3);
  }

  TEST_CASE("a pooled connection the upstream closes while it idles is not used") {
    // The gateway read the first response whole long before the upstream
    // closes (a FIN, unannounced): only the close's readiness event, or a look
    // at the socket, tells the pool. A POST is never sent twice, so it only
    // succeeds if the pool knows before it sends.
    std::atomic<int> accepted{0};
    std::atomic<bool> close_first{false}, first_closed{false};
    scripted_upstream up([&](int fd, const std::string&, const std::atomic<bool>& stop) {
      const auto until = std::chrono::steady_clock::now() + 10s;
      auto wait = [&](auto done) {
        while (!done() && !stop && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(2ms);
      };
      if (accepted++ == 0) {
        send_all(fd, "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst");
        wait([&] { return close_first.load(); });
        ::shutdown(fd, SHUT_WR);
        wait([&] {  // the gateway's kernel has taken the FIN (and acknowledged it)
          tcp_info info{};
          socklen_t size = sizeof info;
          return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) == 0 &&
                 info.tcpi_state == TCP_FIN_WAIT2;
        });
        first_closed = true;
        return;  // the socket closes: what comes on it now is answered with a reset
      }
      send_all(fd, "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond");
      wait([] { return false; });  // open until the test ends
    });
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    REQUIRE(c.read_response().body == "first");
    close_first = true;
    for (int i = 0; i < 1000 && !first_closed; ++i)
      std::this_thread::sleep_for(5ms);
    REQUIRE(first_closed);
    REQUIRE(c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"));
    const auto r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "second");
    CHECK(up.connections() == 2);
  }

  TEST_CASE(
      "a pooled connection closed while the request is sent: idempotent requests retry once") {
    test_upstream up(drops_second_request_on_first_connection());
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
    REQUIRE(c.read_response().status == 200);
    REQUIRE(c.send("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto r = c.read_response();
    CHECK(r.status == 200);
    CHECK(up.connections() == 2);
    CHECK(up.last().target == "/2");
  }

  TEST_CASE("a non-idempotent request is not sent twice: 502") {
    test_upstream up(drops_second_request_on_first_connection());
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
    REQUIRE(c.read_response().status == 200);
    REQUIRE(c.send("POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx"));
    CHECK(c.read_response().status == 502);
    CHECK(up.requests() == 2);
  }

  TEST_CASE("requests are spread over endpoints by weighted round robin") {
    test_upstream a, b;
    auto cfg = proxy_config({a.port(), b.port()});
    cfg.clusters[0].endpoints[0].weight = 3;
    running_gateway gw(cfg);
    test_client c(gw.port());
    for (int i = 0; i < 40; ++i) {
      REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      REQUIRE(c.read_response().status == 200);
    }
    CHECK(a.requests() == 30);
    CHECK(b.requests() == 10);
  }

  TEST_CASE("routing through the server: hosts, paths, 404 for no match") {
    test_upstream api, web;
    auto cfg = proxy_config({api.port()});
    cfg.clusters.push_back(cluster("web", {web.port()}));
    auto& routes = cfg.listeners[0].routes;
    routes.clear();
    gateway::route r;
    r.name = "r";
    r.hostnames = {"shop.example.com"};
    gateway::route_rule api_rule;
    api_rule.matches.push_back({{gateway::path_match_type::prefix, "/api"}, {}, {}, {}});
    api_rule.backends.push_back({"up", 1});
    gateway::route_rule web_rule;
    web_rule.matches.push_back({{gateway::path_match_type::exact, "/"}, {}, {}, {}});
    web_rule.backends.push_back({"web", 1});
    r.rules = {api_rule, web_rule};
    routes.push_back(r);
    running_gateway gw(cfg);
    CHECK(request(gw.port(), "GET /api/x HTTP/1.1\r\nHost: shop.example.com\r\n\r\n").status ==
          200);
    CHECK(api.requests() == 1);
    CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: SHOP.example.com:80\r\n\r\n").status == 200);
    CHECK(web.requests() == 1);
    CHECK(request(gw.port(), "GET /api/../ HTTP/1.1\r\nHost: shop.example.com\r\n\r\n").status ==
          200);
    CHECK(web.requests() == 2);
    CHECK(web.last().target == "/");
    auto miss = request(gw.port(), "GET /nope HTTP/1.1\r\nHost: shop.example.com\r\n\r\n");
    CHECK(miss.status == 404);
    CHECK(miss.header("x-request-id").size() == 36);
    CHECK(request(gw.port(), "GET /api HTTP/1.1\r\nHost: other.example.com\r\n\r\n").status == 404);
  }
}

TEST_SUITE("proxy edge cases") {
  TEST_CASE("103 Early Hints reaches an HTTP/1.1 client before the final response") {
    test_upstream up(
        answer_raw("HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
                   "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    std::string hints = c.read_until("\r\n\r\n");
    CHECK(hints.rfind("HTTP/1.1 103", 0) == 0);
    CHECK(hints.find("link: </style.css>; rel=preload") != std::string::npos);
    auto r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
  }

  TEST_CASE("an absolute-form target is routed by its authority and forwarded in origin form") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    auto r = request(gw.port(),
                     "GET http://shop.example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    REQUIRE(r.status == 200);
    auto seen = up.last();
    CHECK(seen.target == "/p?q=1");
    CHECK(seen.header("host") == "shop.example.com:8080");
    CHECK(seen.count("host") == 1);
  }

  TEST_CASE("an HTTP/1.0 client asking for keep-alive keeps its connection") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    for (int i = 0; i < 3; ++i) {
      REQUIRE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      auto r = c.read_response();
      REQUIRE(r.status == 200);
      CHECK(r.header("connection") == "keep-alive");
    }
    CHECK(up.last().version == "HTTP/1.1");  // the gateway speaks 1.1 upstream
    CHECK(up.last().header("via") == "1.0 gateway");
  }

  TEST_CASE("response trailers reach a chunked client") {
    test_upstream up(answer_raw(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-digest: "
        "7\r\n\r\n"));
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    std::string raw = c.read_until("\r\n0\r\n");
    raw += c.read_until("\r\n\r\n");
    CHECK(raw.find("abc") != std::string::npos);
    CHECK(raw.find("x-digest: 7\r\n") != std::string::npos);
  }

  TEST_CASE("a response head over 64 KiB is refused with 502") {
    test_upstream up(answer_raw("HTTP/1.1 200 OK\r\nx-huge: " + std::string(70 * 1024, 'h') +
                                    "\r\ncontent-length: 0\r\n\r\n",
                                true));
    running_gateway gw(proxy_config({up.port()}));
    CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 502);
  }
}
