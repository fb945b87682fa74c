// Bodies are streamed through fixed per-connection buffers: memory does not
// grow with their size.
#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t big = 256ull << 20;  // ASan is ~10x slower; the bound is the same
#else
constexpr std::uint64_t big = 1ull << 30;
#endif
constexpr std::uint64_t rss_bound = 48ull << 20;  // the growth we allow for moving `big` both ways
}  // namespace

TEST_SUITE("streaming") {
  TEST_CASE("a 1 GiB upload and a 1 GiB download pass through with flat memory") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      p.generated_bytes = big;
      p.headers.push_back({"x-received", std::to_string(r.digest.bytes)});
      p.headers.push_back({"x-received-ok", r.digest.matches_pattern_of(big) ? "yes" : "no"});
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    // Warm up so buffers, threads and pools exist before the baseline.
    REQUIRE(request(gw.port(), "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true).status == 200);
    // The peak is measured from here: what earlier tests in this process used does not count.
    REQUIRE(reset_peak_rss());
    std::uint64_t before = current_rss();

    test_client c(gw.port());
    REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(big) +
                   "\r\n\r\n"));
    REQUIRE(c.send_pattern(big, std::chrono::seconds(240)));
    auto r = c.read_response(false, std::chrono::seconds(240));
    REQUIRE(r.status == 200);
    CHECK(r.header("x-received") == std::to_string(big));
    CHECK(r.header("x-received-ok") == "yes");
    CHECK(r.digest.matches_pattern_of(big));

    std::uint64_t growth = peak_rss() - before;
    MESSAGE("peak RSS growth while moving 2 x ", big >> 20, " MiB: ", growth >> 20, " MiB");
    CHECK(growth < rss_bound);
  }

  TEST_CASE("a chunked upload of 64 MiB streams and arrives intact") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      p.body = r.digest.matches_pattern_of(64ull << 20) ? "intact" : "corrupt";
      return p;
    });
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(c.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
    std::string block;
    for (std::uint64_t off = 0; off < (64ull << 20);) {
      std::size_t len = 40000;  // odd sizes so chunks straddle reads
      block.assign(len, '\0');
      for (std::size_t i = 0; i < len; ++i)
        block[i] = static_cast<char>(pattern_byte(off + i));
      char line[32];
      int n = std::snprintf(line, sizeof line, "%zx\r\n", len);
      if (off + len > (64ull << 20)) break;
      REQUIRE(c.send(std::string(line, static_cast<std::size_t>(n)) + block + "\r\n"));
      off += len;
    }
    // Fill up to exactly 64 MiB.
    std::uint64_t sent = ((64ull << 20) / 40000) * 40000;
    std::size_t rest = static_cast<std::size_t>((64ull << 20) - sent);
    block.assign(rest, '\0');
    for (std::size_t i = 0; i < rest; ++i)
      block[i] = static_cast<char>(pattern_byte(sent + i));
    char line[32];
    int n = std::snprintf(line, sizeof line, "%zx\r\n", rest);
    REQUIRE(c.send(std::string(line, static_cast<std::size_t>(n)) + block + "\r\n0\r\n\r\n"));
    auto r = c.read_response(false, std::chrono::seconds(60));
    REQUIRE(r.status == 200);
    CHECK(r.body == "intact");
  }
}
