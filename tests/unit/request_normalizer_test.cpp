#include <doctest/doctest.h>

#include "pipeline/request_normalizer.hpp"

namespace {
using gateway::request_normalization;
using slashes = request_normalization::escaped_slashes;

// The normal form of `p` under `rules`, "400" when refused; "+" marks an
// unescaped slash.
std::string norm(std::string_view p, request_normalization rules = {}) {
  std::string out;
  bool unescaped = false, rejected = false;
  if (!gateway::normalize_path(p, rules, out, unescaped, rejected))
    return rejected ? "400" : std::string(p);
  return unescaped ? "+" + out : out;
}

request_normalization with(slashes s, bool merge = true) {
  request_normalization r;
  r.escaped_slashes_action = s;
  r.merge_slashes = merge;
  return r;
}
}  // namespace

TEST_SUITE("request normalizer") {
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

  TEST_CASE("unreserved escapes are decoded, others upper-cased, dots removed after decoding") {
    CHECK(norm("/%61dmin") == "/admin");
    CHECK(norm("/public/%2e%2e/admin") == "/admin");
    CHECK(norm("/public/.%2E/admin") == "/admin");
    CHECK(norm("/public/%2e./admin") == "/admin");
    CHECK(norm("/a/%2e/b") == "/a/b");
    CHECK(norm("/a%7eb") == "/a~b");
    CHECK(norm("/a%20b%3fc") == "/a%20b%3Fc");  // stays escaped: reserved or not allowed
    CHECK(norm("/%e2%82%ac") == "/%E2%82%AC");
    CHECK(norm("/a%2") == "400");
    CHECK(norm("/a%zz") == "400");
    CHECK(norm("/a%") == "400");
  }

  TEST_CASE("repeated slashes merge unless disabled") {
    CHECK(norm("//admin") == "/admin");
    CHECK(norm("/a///b//") == "/a/b/");
    CHECK(norm("/a//../b") == "/b");
    CHECK(norm("//admin", with(slashes::unescape_and_redirect, false)) == "//admin");
  }

  TEST_CASE("escaped slashes follow escapedSlashesAction") {
    CHECK(norm("/public%2F..%2Fadmin", with(slashes::keep_unchanged)) == "/public%2F..%2Fadmin");
    CHECK(norm("/a%2fb", with(slashes::keep_unchanged)) == "/a%2Fb");
    CHECK(norm("/a%2Fb", with(slashes::reject_request)) == "400");
    CHECK(norm("/a%5cb", with(slashes::reject_request)) == "400");
    CHECK(norm("/public%2F..%2Fadmin", with(slashes::unescape_and_forward)) == "+/admin");
    CHECK(norm("/public%2F..%2Fadmin", with(slashes::unescape_and_redirect)) == "+/admin");
    CHECK(norm("/a%2F%2Fb", with(slashes::unescape_and_forward)) == "+/a/b");
    CHECK(norm("/a%5Cb", with(slashes::unescape_and_forward)) == "+/a\\b");
  }

  TEST_CASE("encoded slashes with dot segments: a separator only where the listener unescapes") {
    const std::string_view climb = "/a/b/..%2f..%2fetc";
    CHECK(norm(climb, with(slashes::keep_unchanged)) == "/a/b/..%2F..%2Fetc");
    CHECK(norm(climb, with(slashes::reject_request)) == "400");
    CHECK(norm(climb, with(slashes::unescape_and_forward)) == "+/etc");
    CHECK(norm("/a/%2e%2e%2F%2e%2e%2Fetc", with(slashes::unescape_and_forward)) == "+/etc");
    CHECK(norm("/a/%2e%2e%2F%2e%2e%2Fetc", with(slashes::keep_unchanged)) == "/a/..%2F..%2Fetc");
    // Backslash is no separator for the router: decoded, it stays in its segment.
    CHECK(norm("/a%5c..%5cadmin", with(slashes::unescape_and_forward)) == "+/a\\..\\admin");
    CHECK(norm("/a%5C..%5Cadmin", with(slashes::keep_unchanged)) == "/a%5C..%5Cadmin");
  }

  TEST_CASE("dot segments: only whole '.' and '..' segments, decoded or not, and never above /") {
    CHECK(norm("/a/b/./../c") == "/a/c");
    CHECK(norm("/./a") == "/a");
    CHECK(norm("/a/./") == "/a/");
    CHECK(norm("/a/b/../../..") == "/");
    CHECK(norm("/a/b/../../../c") == "/c");
    CHECK(norm("/a/.%2e") == "/");
    CHECK(norm("/a/%2E") == "/a/");
    CHECK(norm("/.../a") == "/.../a");
    CHECK(norm("/a/.%2e%2e/b") == "/a/.../b");
    // Decoded once only: %25 is '%' and is not decoded, so this is no dot segment.
    CHECK(norm("/%252e%252e/admin") == "/%252e%252e/admin");
    CHECK(norm("/%252E/x") == "/%252E/x");
  }

  TEST_CASE("case: the path's letters are kept, an escape's hex digits are upper-cased") {
    CHECK(norm("/Admin") == "/Admin");
    CHECK(norm("/%41dmin") == "/Admin");  // decoded as written: not /admin
    CHECK(norm("/%4a%4A") == "/JJ");
    CHECK(norm("/caf%c3%a9") == "/caf%C3%A9");
    CHECK(norm("/caf%C3%A9") == "/caf%C3%A9");
    CHECK(norm("/a%2fb", with(slashes::keep_unchanged)) == "/a%2Fb");
    CHECK(norm("/a%2Fb", with(slashes::keep_unchanged)) == "/a%2Fb");
  }

  TEST_CASE("the normal form is a fixed point") {
    for (std::string_view p : {"/%61dmin/./x//y/%2e%2e/z", "/a%2Fb/../c", "/%7E/%41/%2f%2F"})
      for (auto s : {slashes::keep_unchanged, slashes::unescape_and_forward}) {
        const std::string once = norm(p, with(s));
        const std::string clean = once.starts_with('+') ? once.substr(1) : once;
        CHECK(norm(clean, with(s)) == clean);
      }
  }

  TEST_CASE("a changed target keeps its query and underscored names go as the listener says") {
    gateway::http1::request_head rq;
    rq.target = "/a/%2e%2e/b?x=%2e";
    rq.path = "/a/%2e%2e/b";
    rq.query = "x=%2e";
    rq.headers = {{"host", "a"}, {"x_api", "1"}};
    std::string buf;
    request_normalization rules;
    CHECK(gateway::normalize_request(rq, rules, buf) == gateway::normalize_result::reject);
    rules.with_underscores = request_normalization::underscores::drop_header;
    CHECK(gateway::normalize_request(rq, rules, buf) == gateway::normalize_result::ok);
    CHECK(rq.headers.size() == 1);
    CHECK(rq.target == "/b?x=%2e");
    CHECK(rq.path == "/b");
    CHECK(rq.query == "x=%2e");
    rules.with_underscores = request_normalization::underscores::allow;
    rq.headers = {{"x_api", "1"}};
    rq.target = rq.path = "/a%2Fb";
    rq.query = {};
    CHECK(gateway::normalize_request(rq, rules, buf) == gateway::normalize_result::redirect);
    CHECK(rq.target == "/a/b");
    CHECK(rq.headers.size() == 1);
  }
}
