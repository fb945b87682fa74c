#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "http1/chunked_decoder.hpp"

using gateway::http1::chunked_decoder;

namespace {
// Feeds `input` in pieces of `piece` bytes; returns the decoded data, or
// "<error>" / "<incomplete>".
std::string decode(const std::string& input, std::size_t piece, std::string* trailers = nullptr) {
  chunked_decoder d;
  std::string out, pending;
  for (std::size_t off = 0; off < input.size(); off += piece) {
    pending += input.substr(off, piece);
    std::size_t used = 0;
    while (used < pending.size()) {
      auto s = d.decode(std::string_view(pending).substr(used));
      if (s.error) return "<error>";
      used += s.consumed;
      out.append(s.data);
      if (s.done) {
        if (trailers) *trailers = d.trailers();
        return out;
      }
      if (s.consumed == 0) break;
    }
    pending.erase(0, used);
  }
  return "<incomplete>";
}
}  // namespace

TEST_SUITE("chunked decoder") {
  TEST_CASE("decodes in any split of the input") {
    std::string body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    for (std::size_t piece : {1u, 2u, 3u, 7u, 100u})
      CHECK(decode(body, piece) == "hello world");
  }

  TEST_CASE("hex sizes in either case, trailers kept") {
    std::string trailers;
    CHECK(decode("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n", 4, &trailers) ==
          "01234567890123456789");
    CHECK(trailers == "X-Sum: 1\r\n");
  }

  TEST_CASE("trailers as fields: names and values without the spaces around them") {
    chunked_decoder d;
    const std::string body = "0\r\nX-Sum: 1\r\nx-empty:\r\nX-Pad: \t two words \r\n\r\n";
    auto s = d.decode(body);
    REQUIRE(s.done);
    std::vector<gateway::http::header> fields;
    d.trailer_fields(fields);
    REQUIRE(fields.size() == 3);
    CHECK(fields[0].name == "X-Sum");
    CHECK(fields[0].value == "1");
    CHECK(fields[1].name == "x-empty");
    CHECK(fields[1].value == "");
    CHECK(fields[2].name == "X-Pad");
    CHECK(fields[2].value == "two words");
    chunked_decoder none;
    REQUIRE(none.decode("0\r\n\r\n").done);
    fields.clear();
    none.trailer_fields(fields);
    CHECK(fields.empty());
  }

  TEST_CASE("malformed framing is an error") {
    CHECK(decode("5\r\nhelloX\r\n0\r\n\r\n", 100) == "<error>");  // no CRLF after data
    CHECK(decode("5\nhello\r\n0\r\n\r\n", 100) == "<error>");     // bare LF
    CHECK(decode("g\r\nhello\r\n0\r\n\r\n", 100) == "<error>");   // not hex
    CHECK(decode("\r\nhello\r\n0\r\n\r\n", 100) == "<error>");    // empty size
    CHECK(decode("-5\r\nhello\r\n0\r\n\r\n", 100) == "<error>");
    CHECK(decode("1000000000000000\r\n", 100) == "<error>");  // 16 hex digits: overflow guard
    CHECK(decode("0\r\n bad\r\n\r\n", 100) == "<error>");     // folded trailer
    CHECK(decode("0\r\nno-colon\r\n\r\n", 100) == "<error>");
    CHECK(decode("0\r\nbad name: v\r\n\r\n", 100) == "<error>");
    CHECK(decode("5;\x01\r\nhello\r\n0\r\n\r\n", 100) == "<error>");
  }

  TEST_CASE("an unfinished body is incomplete, not an error") {
    CHECK(decode("5\r\nhel", 100) == "<incomplete>");
    CHECK(decode("5\r\nhello\r\n0\r\n", 100) == "<incomplete>");
  }
}
