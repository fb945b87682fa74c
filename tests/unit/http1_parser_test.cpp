#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "http1/http1_parser.hpp"
#include "http1/serializer.hpp"

using namespace gateway::http1;

namespace {
// Status parse_request_head gives for a full head. The head is kept until the
// next call, since the parsed views point into it.
int parse(const std::string& text, request_head& out, head_limits limits = {}) {
  static std::string head;
  head = text;
  head_scanner s;
  std::size_t end = s.find_end(head);
  REQUIRE(end == head.size());
  return parse_request_head(head, out, limits);
}
int status_of(const std::string& head) {
  request_head r;
  return parse(head, r);
}
}  // namespace

TEST_SUITE("http1 parser") {
  TEST_CASE("a plain request parses into views") {
    request_head r;
    REQUIRE(parse("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nX-A:  spaced  \r\n\r\n", r) ==
            0);
    CHECK(r.method == "GET");
    CHECK(r.target == "/a/b?x=1&y=2");
    CHECK(r.path == "/a/b");
    CHECK(r.query == "x=1&y=2");
    CHECK(r.host == "example.com");
    CHECK(r.version_minor == 1);
    REQUIRE(r.headers.size() == 2);
    CHECK(r.headers[1].value == "spaced");
    CHECK(r.wants_keep_alive());
    CHECK(!r.chunked);
    CHECK(!r.has_content_length);
  }

  TEST_CASE("the end of a head is found across reads") {
    head_scanner s;
    std::string buf = "GET / HTTP/1.1\r\nHost: a\r\n";
    CHECK(s.find_end(buf) == 0);
    buf += "\r";
    CHECK(s.find_end(buf) == 0);
    buf += "\nBODY";
    CHECK(s.find_end(buf) == buf.size() - 4);
    CHECK(!s.bare_lf());
  }

  TEST_CASE("a bare LF in an incomplete head is seen at once, wherever the reads split") {
    for (std::string head : {"GET / HTTP/1.1\nHost: a\n\n", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n",
                             "\n", "GET / HTTP/1.1\r\n\n"}) {
      CAPTURE(head);
      for (std::size_t split = 1; split <= head.size(); ++split) {
        head_scanner s;
        std::size_t end = s.find_end(head.substr(0, split));
        if (end == 0) end = s.find_end(head);
        CHECK(end == 0);
        CHECK(s.bare_lf());
      }
    }
    head_scanner s;
    CHECK(s.find_end("GET / HTTP/1.1\r") == 0);
    CHECK(s.find_end("GET / HTTP/1.1\r\nHost: a\r\n") == 0);
    CHECK(!s.bare_lf());
  }

  TEST_CASE("a token in a comma-separated field value, whatever its case and spacing") {
    CHECK(lists_token("trailers", "trailers"));
    CHECK(lists_token("gzip, Trailers", "trailers"));
    CHECK(lists_token(" gzip ,\ttrailers\t", "trailers"));
    CHECK_FALSE(lists_token("gzip, deflate", "trailers"));
    CHECK_FALSE(lists_token("trailersx, xtrailers", "trailers"));
    CHECK_FALSE(lists_token("", "trailers"));
    // Only that token: h2c offered alone (or twice) but not beside another.
    CHECK(lists_only("h2c", "h2c"));
    CHECK(lists_only(" H2C , h2c", "h2c"));
    CHECK_FALSE(lists_only("h2c, websocket", "h2c"));
    CHECK_FALSE(lists_only("spdy/3.1", "h2c"));
  }

  TEST_CASE("HTTP/1.0 keep-alive and close semantics") {
    request_head r;
    REQUIRE(parse("GET / HTTP/1.0\r\n\r\n", r) == 0);
    CHECK(!r.wants_keep_alive());
    REQUIRE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", r) == 0);
    CHECK(r.wants_keep_alive());
    REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", r) == 0);
    CHECK(!r.wants_keep_alive());
  }

  TEST_CASE("framing: content-length and chunked") {
    request_head r;
    REQUIRE(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", r) == 0);
    CHECK(r.has_content_length);
    CHECK(r.content_length == 12);
    REQUIRE(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", r) == 0);
    CHECK(r.content_length == 5);
    REQUIRE(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", r) == 0);
    CHECK(r.chunked);
  }

  TEST_CASE("ambiguous framing is rejected with 400") {
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n") == 400);
    CHECK(
        status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") ==
        400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") ==
          400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                    "chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  }

  TEST_CASE("malformed heads are rejected with 400") {
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n continued\r\n\r\n") ==
          400);  // obs-fold
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-Bad : a\r\n\r\n") ==
          400);  // space before colon
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nBad\nX: a\r\n\r\n") == 400);  // bare LF
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n") == 400);  // control char
    CHECK(status_of("GET  / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1 \r\nHost: a\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTX/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status_of("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status_of("G(T / HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);  // no Host
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n") == 417);
    CHECK(status_of("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n") == 501);
  }

  TEST_CASE("absolute-form targets take their authority as the host") {
    request_head r;
    REQUIRE(parse("GET http://Other.example:8080/p?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n", r) == 0);
    CHECK(r.host == "Other.example:8080");
    CHECK(r.path == "/p");
    CHECK(r.query == "q=1");
    CHECK(status_of("GET http://user@evil/ HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  }

  TEST_CASE("limits: request line 414, head 431, header count 431") {
    head_limits limits{64, 256, 4};
    request_head r;
    std::string long_line = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(parse(long_line, r, limits) == 414);
    std::string many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n";
    CHECK(parse(many, r, limits) == 431);
    CHECK(incomplete_request_status(std::string(70, 'a'), limits) == 414);
    CHECK(incomplete_request_status("GET / HTTP/1.1\r\n" + std::string(300, 'a'), limits) == 431);
    CHECK(incomplete_request_status("GET / HTTP/1.1\r\nHost: a\r\n", limits) == 0);
  }

  TEST_CASE("hop-by-hop headers include the ones named in Connection") {
    request_head r;
    REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\n\r\n", r) == 0);
    CHECK(is_hop_by_hop("Keep-Alive", r.connection_tokens));
    CHECK(is_hop_by_hop("x-secret", r.connection_tokens));
    CHECK(is_hop_by_hop("TE", r.connection_tokens));
    CHECK(is_hop_by_hop("Transfer-Encoding", r.connection_tokens));
    CHECK(is_hop_by_hop("Upgrade", r.connection_tokens));
    CHECK(is_hop_by_hop("Proxy-Connection", r.connection_tokens));
    CHECK(!is_hop_by_hop("X-Other", r.connection_tokens));
    CHECK(!is_hop_by_hop("Content-Type", r.connection_tokens));
  }

  TEST_CASE("response heads") {
    response_head r;
    REQUIRE(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", r, 100) == 0);
    CHECK(r.status == 200);
    CHECK(r.reason == "OK");
    CHECK(r.content_length == 3);
    REQUIRE(parse_response_head("HTTP/1.1 204\r\n\r\n", r, 100) == 0);
    CHECK(r.status == 204);
    REQUIRE(parse_response_head("HTTP/1.1 204 \r\n\r\n", r, 100) == 0);  // empty reason
    CHECK(r.reason.empty());
    // Both framings: how responses get split; refused as nginx does.
    CHECK(parse_response_head(
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", r,
              100) == 502);
    CHECK(parse_response_head("HTTP/1.1 2000 OK\r\n\r\n", r, 100) == 502);
    CHECK(parse_response_head("HTTP/1.1 20x OK\r\n\r\n", r, 100) == 502);
    CHECK(parse_response_head("garbage\r\n\r\n", r, 100) == 502);
    CHECK(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                              r, 100) ==
          502);  // The field count limit: the last allowed field, then one more (431 says
    // which limit; the proxy answers 502 either way).
    CHECK(parse_response_head("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", r, 2) == 0);
    CHECK(parse_response_head("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", r, 2) == 431);
  }

  TEST_CASE("a field value is refused for any control byte, wherever it is") {
    // Values of every length around the eight-byte words the check reads,
    // with the bad byte at each position: a control below 0x20, DEL, and a
    // tab (allowed) beside a control after it.
    for (std::size_t n = 1; n <= 26; ++n) {
      for (std::size_t at = 0; at < n; ++at) {
        for (const char bad : {'\x01', '\x1f', '\x7f', '\x00', '\x0b'}) {
          std::string value(n, 'v');
          value[at] = bad;
          INFO("length ", n, " byte ", int(bad), " at ", at);
          CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: " + value + "\r\n\r\n") == 400);
          response_head r;
          const std::string head = "HTTP/1.1 200 OK\r\nX: " + value + "\r\n\r\n";
          CHECK(parse_response_head(head, r, 100) == 502);
          const std::string reason = "HTTP/1.1 200 " + value + "\r\n\r\n";
          CHECK(parse_response_head(reason, r, 100) == 502);
        }
        std::string tabbed(n, 'v');
        tabbed[at] = '\t';
        INFO("tab at ", at, " of ", n);
        request_head r;
        REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nX: " + tabbed + "\r\n\r\n", r) == 0);
        if (at + 1 < n) {
          tabbed[at + 1] = '\x02';
          CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: " + tabbed + "\r\n\r\n") == 400);
        }
      }
    }
    // obs-text and every other visible byte are values.
    std::string all;
    for (int c = 0x20; c < 0x100; ++c)
      if (c != 0x7f) all.push_back(static_cast<char>(c));
    request_head r;
    REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nX: a" + all + "z\r\n\r\n", r) == 0);
    CHECK(r.headers[1].value == "a" + all + "z");
  }

  TEST_CASE("iequals is ASCII case folding only, at every length") {
    const auto slow = [](std::string_view a, std::string_view b) {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
        if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
        if (x != y) return false;
      }
      return true;
    };
    // Pairs that differ by 0x20 but are not letters, and letters' neighbours.
    const std::vector<std::pair<char, char>> near = {
        {'@', '`'},       {'[', '{'},       {'\\', '|'},   {']', '}'},    {'^', '~'}, {'_', '\x7f'},
        {'\xc1', '\xe1'}, {'\xda', '\xfa'}, {'\x01', '!'}, {'0', '\x10'}, {'A', 'a'}, {'Z', 'z'}};
    std::mt19937 rng(7);
    for (std::size_t n = 0; n <= 40; ++n) {
      for (int round = 0; round < 50; ++round) {
        std::string a(n, 'x');
        for (char& c : a)
          c = static_cast<char>(rng() % 256);
        std::string b = a;
        for (char& c : b)  // flip the case of some letters
          if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && rng() % 2)
            c = static_cast<char>(c ^ 0x20);
        INFO("length ", n);
        CHECK(gateway::http::iequals(a, b));
        if (n == 0) continue;
        const std::size_t at = rng() % n;
        const auto& [x, y] = near[rng() % near.size()];
        a[at] = x;
        b[at] = y;
        CHECK(gateway::http::iequals(a, b) == slow(a, b));
        CHECK(gateway::http::iequals(b, a) == slow(a, b));
      }
    }
    CHECK(gateway::http::iequals("Content-Length", "content-length"));
    CHECK(!gateway::http::iequals("content-length", "content-lengtH "));
    CHECK(!gateway::http::iequals("content-lengtm", "content-length"));
  }

  TEST_CASE("request, response and local heads and last chunks are written whole, framing last") {
    std::string out = "left from before";
    const std::vector<gateway::http::header> fields = {
        {"Host", "a.example"}, {"X-Empty", ""}, {"accept", "*/*"}};
    write_request_head(out, "POST", "/p?q=1", fields, {false, true, 12345678901234567890ull});
    CHECK(out ==
          "POST /p?q=1 HTTP/1.1\r\nHost: a.example\r\nX-Empty: \r\naccept: */*\r\n"
          "content-length: 12345678901234567890\r\n\r\n");
    write_request_head(out, "GET", "/", {}, {true, false, 0});
    CHECK(out == "GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n");
    write_request_head(out, "GET", "/", {}, {});
    CHECK(out == "GET / HTTP/1.1\r\n\r\n");

    const std::vector<gateway::http::header> got = {{"Content-Length", "9"}, {"Server", "up"}};
    response_framing f;
    f.has_length = true;
    f.length = 3;
    f.keep_alive = true;
    write_response_head(out, 200, "", got, f);
    CHECK(out ==
          "HTTP/1.1 200 OK\r\nServer: up\r\ncontent-length: 3\r\n"
          "connection: keep-alive\r\n\r\n");
    f = {};
    f.bodyless = true;
    f.close = true;
    write_response_head(out, 304, "Not Modified Here", got, f);
    CHECK(out ==
          "HTTP/1.1 304 Not Modified Here\r\nContent-Length: 9\r\nServer: up\r\n"
          "connection: close\r\n\r\n");
    f = {};
    f.chunked = true;
    write_response_head(out, 599, "", {}, f);
    CHECK(out == "HTTP/1.1 599 \r\ntransfer-encoding: chunked\r\n\r\n");

    // The gateway's own answers frame themselves: the caller's framing fields are dropped.
    const std::vector<gateway::http::header> own = {{"Content-Type", "text/plain"},
                                                    {"Content-Length", "99"},
                                                    {"connection", "keep-alive"},
                                                    {"Transfer-Encoding", "chunked"}};
    write_local_reply(out, 404, own, "gone\n", true, false);
    CHECK(out ==
          "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\ncontent-length: 5\r\n"
          "connection: close\r\n\r\ngone\n");
    write_local_reply(out, 200, {}, "gone\n", false, true);  // HEAD: the length, no body
    CHECK(out == "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");

    // The last chunk, with and without trailers.
    chunk_framer framer;
    std::vector<gateway::asio::const_buffer> pieces;
    const std::vector<gateway::http::header> trailers = {{"grpc-status", "0"}, {"x-sum", "42"}};
    framer.end(trailers, pieces);
    REQUIRE(pieces.size() == 1);
    CHECK(std::string_view(static_cast<const char*>(pieces[0].data()), pieces[0].size()) ==
          "0\r\ngrpc-status: 0\r\nx-sum: 42\r\n\r\n");
    pieces.clear();
    framer.end({}, pieces);
    REQUIRE(pieces.size() == 1);
    CHECK(std::string_view(static_cast<const char*>(pieces[0].data()), pieces[0].size()) ==
          "0\r\n\r\n");
  }
}
