// The RESP reply parser the global rate limit reads Redis with.
#include <doctest/doctest.h>

#include <string>

#include "filters/global_ratelimit/redis_reply.hpp"

using gateway::filters::parse_redis_reply;

namespace {
constexpr std::size_t malformed = std::string_view::npos;

std::size_t parse(std::string_view in, std::int64_t* value = nullptr, bool* error = nullptr) {
  std::int64_t v = 0;
  bool e = false;
  const std::size_t n = parse_redis_reply(in, v, e);
  if (value) *value = v;
  if (error) *error = e;
  return n;
}
}  // namespace

TEST_SUITE("redis reply") {
  TEST_CASE("integers, statuses, errors, bulk strings and arrays have their lengths") {
    std::int64_t v = 0;
    bool e = false;
    CHECK(parse(":42\r\n+OK\r\n", &v) == 5);
    CHECK(v == 42);
    CHECK(parse(":-7\r\n", &v) == 5);
    CHECK(v == -7);
    CHECK(parse("+OK\r\n") == 5);
    CHECK(parse("-ERR wrong type\r\n", nullptr, &e) == 17);
    CHECK(e);
    CHECK(parse("$5\r\nhello\r\n") == 11);
    CHECK(parse("$-1\r\n") == 5);
    CHECK(parse("*2\r\n:1\r\n:2\r\n") == 12);
    CHECK(parse("*-1\r\n") == 5);
  }

  TEST_CASE("a reply cut anywhere is incomplete, never misread") {
    const std::string whole = "*2\r\n$3\r\nabc\r\n:123\r\n";
    REQUIRE(parse(whole) == whole.size());
    for (std::size_t cut = 0; cut < whole.size(); ++cut)
      CHECK_MESSAGE(parse(std::string_view(whole).substr(0, cut)) == 0, cut);
  }

  TEST_CASE("what a hostile server could send is malformed, not a crash") {
    CHECK(parse(":9999999999999999999\r\n") == malformed);  // 19 digits: would overflow
    CHECK(parse(":999999999999999999\r\n") == 21);          // 18 fit
    CHECK(parse(":\r\n") == malformed);
    CHECK(parse(":12a\r\n") == malformed);
    CHECK(parse("$3\r\nabcXY") == malformed);  // data not ended by CRLF
    CHECK(parse("$-2\r\n") == malformed);
    CHECK(parse("\r\n") == malformed);
    CHECK(parse("?x\r\n") == malformed);
    std::string deep;
    for (int i = 0; i < 5; ++i)
      deep += "*1\r\n";
    CHECK(parse(deep + ":1\r\n") == malformed);  // nested past 4
    CHECK(parse("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n") == 20);
  }
}
