// Requests that could be read two ways (request smuggling) and requests over
// the limits: each gets its status and a closed connection, and nothing of it
// reaches the upstream.
#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {
// Sends `raw`, expects `status`, then expects the gateway to close the connection.
void expect_rejected(std::uint16_t port, const std::string& raw, int status) {
  test_client c(port);
  REQUIRE(c.send(raw));
  auto r = c.read_response();
  CHECK(r.status == status);
  CHECK(r.header("connection") == "close");
  CHECK(c.closed_by_peer());
}
}  // namespace

TEST_SUITE("framing") {
  TEST_CASE("both Content-Length and Transfer-Encoding: 400 and close") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    expect_rejected(
        gw.port(),
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        400);
    CHECK(up.requests() == 0);
  }

  TEST_CASE("duplicate differing Content-Length: 400 and close") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    expect_rejected(
        gw.port(),
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", 400);
    CHECK(up.requests() == 0);
  }

  TEST_CASE("Transfer-Encoding not ending in chunked: 400 and close") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    expect_rejected(gw.port(),
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
                    400);
    expect_rejected(gw.port(),
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\nabc", 400);
    CHECK(up.requests() == 0);
  }

  TEST_CASE("bad chunk sizes: 400 and close") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    for (std::string body : {"zz\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX\r\n0\r\n\r\n",
                             "fffffffffffffffff\r\n", "5\nhello\r\n0\r\n\r\n", "-1\r\n"}) {
      CAPTURE(body);
      expect_rejected(gw.port(),
                      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
                      400);
    }
    // The head may have gone upstream before the bad chunk arrived; no whole
    // request did, and the upstream's connection was not left waiting for more.
    CHECK(up.requests() == 0);
    CHECK(eventually([&] { return up.closed() == up.connections(); }));
  }

  TEST_CASE("obs-fold in a header: 400 and close") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    expect_rejected(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nX-Long: first\r\n second\r\n\r\n",
                    400);
    CHECK(up.requests() == 0);
  }

  TEST_CASE("whitespace before the colon and bare LF: 400 and close") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    expect_rejected(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
                    400);
    expect_rejected(gw.port(), "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400);
    CHECK(up.requests() == 0);
  }

  TEST_CASE("LF without CR ends nothing: 400 at once, never a 408, nothing upstream") {
    // Our rule (RFC 9112 §2.2 leaves it to the recipient): lines end with CRLF.
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.header_timeout = std::chrono::seconds(60);  // a wait would show
    running_gateway gw(cfg);
    expect_rejected(gw.port(), "GET / HTTP/1.1\nHost: a\n\n", 400);            // LF only
    expect_rejected(gw.port(), "GET / HTTP/1.1\r\nHost: a\nX: y\n\r\n", 400);  // mixed
    expect_rejected(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nX: y\n", 400);    // unfinished
    expect_rejected(gw.port(), "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);    // empty line
    expect_rejected(gw.port(),
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\n0\r\n\r\n",
                    400);  // chunk framing
    CHECK(up.requests() == 0);
    // Split across reads, the verdict is the same.
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(c.send("\nX: y"));
    CHECK(c.read_response().status == 400);
    CHECK(c.closed_by_peer());
  }

  TEST_CASE("an upstream head with bare LF: 502 at once") {
    test_upstream up(answer_raw("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"));
    auto cfg = proxy_config({up.port()});
    running_gateway gw(cfg);
    CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 502);
  }

  TEST_CASE("oversized headers: 431, overlong request line: 414") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.max_request_line = 1024;
    cfg.listeners[0].limits.max_request_head = 4096;
    running_gateway gw(cfg);
    expect_rejected(gw.port(),
                    "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(5000, 'x') + "\r\n\r\n",
                    431);
    // Also when the head never ends: the limit is checked as bytes arrive.
    expect_rejected(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(8000, 'x'),
                    431);
    expect_rejected(gw.port(), "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
                    414);
    CHECK(up.requests() == 0);
    // A head just under the limits still passes.
    CHECK(request(gw.port(),
                  "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(3000, 'x') + "\r\n\r\n")
              .status == 200);
  }

  TEST_CASE("too many header fields: 431") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.max_header_count = 10;
    running_gateway gw(cfg);
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 11; ++i)
      many += "X-" + std::to_string(i) + ": v\r\n";
    expect_rejected(gw.port(), many + "\r\n", 431);
  }

  TEST_CASE("body over the configured limit: 413, for declared and for chunked bodies") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.max_request_body = 100;
    running_gateway gw(cfg);
    expect_rejected(gw.port(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413);
    expect_rejected(gw.port(),
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" +
                        std::string(128, 'x') + "\r\n",
                    413);
    CHECK(request(gw.port(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" +
                                 std::string(100, 'x'))
              .status == 200);
  }

  TEST_CASE("a client still uploading when refused reads its 413, not a reset") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.max_request_body = 1024;
    running_gateway gw(cfg);
    test_client c(gw.port());
    REQUIRE(c.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n"));
    auto r = c.read_response();
    CHECK(r.status == 413);
    // The gateway drains what still comes instead of resetting the connection,
    // so a client that reads its answer only after uploading still gets it.
    CHECK(c.send_pattern(256 * 1024, std::chrono::seconds(5)));
    CHECK(c.closed_by_peer());
  }

  TEST_CASE("a head not finished in time: 408 and close") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.header_timeout = std::chrono::milliseconds(200);
    running_gateway gw(cfg);
    test_client c(gw.port());
    auto start = std::chrono::steady_clock::now();
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n"));
    auto r = c.read_response(false, std::chrono::seconds(5));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 408);
    CHECK(took >= std::chrono::milliseconds(190));
    CHECK(c.closed_by_peer());
  }

  TEST_CASE("an idle keep-alive connection is closed quietly after the idle timeout") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].limits.idle_timeout = std::chrono::milliseconds(200);
    running_gateway gw(cfg);
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    REQUIRE(c.read_response().status == 200);
    CHECK(c.closed_by_peer(std::chrono::seconds(5)));
  }

  TEST_CASE("an idle keep-alive connection gives its buffers back and serves its next requests") {
    test_upstream up;
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    REQUIRE(c.read_response().status == 200);
    // Once the request is recorded, its input block and its stream are back
    // in the worker's pools: the connection waits holding neither.
    CHECK(eventually(
        [&] { return metric(gw.server(), "gateway_buffer_bytes{side=\"client\"}") == 0; }));
    CHECK(metric(gw.server(), "gateway_buffer_bytes{side=\"pooled\"}") > 0);
    // Then a head longer than the 256 bytes the waiting read takes, and a
    // second request pipelined behind it.
    const std::string path = "/" + std::string(600, 'x');
    REQUIRE(
        c.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
    const auto long_one = c.read_response();
    CHECK(long_one.status == 200);
    CHECK(long_one.body == "GET " + path + " 0");
    const auto second = c.read_response();
    CHECK(second.status == 200);
    CHECK(second.body == "GET /2 0");
    CHECK(up.requests() == 3);
  }

  TEST_CASE("a 404 for a request without a body keeps the connection, with a body it closes") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].routes[0].rules[0].matches.push_back(
        {{gateway::path_match_type::prefix, "/api"}, {}, {}, {}});
    running_gateway gw(cfg);
    test_client c(gw.port());
    REQUIRE(c.send("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"));
    auto miss = c.read_response();
    CHECK(miss.status == 404);
    CHECK(miss.header("connection").empty());
    REQUIRE(c.send("GET /api HTTP/1.1\r\nHost: a\r\n\r\n"));
    CHECK(c.read_response().status == 200);
    // An unread body leaves the stream out of step: answer, then close.
    expect_rejected(gw.port(), "POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
                    404);
  }
}
