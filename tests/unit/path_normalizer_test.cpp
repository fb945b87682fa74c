#include <doctest/doctest.h>

#include "server/path_normalizer.hpp"

namespace {
std::string norm(std::string_view p) {
  if (!gateway::needs_normalization(p)) return std::string(p);
  std::string out;
  gateway::normalize_path(p, out);
  return out;
}
}  // namespace

TEST_SUITE("path normalizer") {
  TEST_CASE("dot segments are removed as RFC 3986 says") {
    CHECK(norm("/a/b/c") == "/a/b/c");
    CHECK(norm("/a/./b") == "/a/b");
    CHECK(norm("/a/../b") == "/b");
    CHECK(norm("/a/b/..") == "/a/");
    CHECK(norm("/a/b/.") == "/a/b/");
    CHECK(norm("/../../etc/passwd") == "/etc/passwd");
    CHECK(norm("/..") == "/");
    CHECK(norm("/a/.hidden/x") == "/a/.hidden/x");
    CHECK(norm("/a/..b/x") == "/a/..b/x");
    CHECK(norm("/") == "/");
  }
}
