#include <doctest/doctest.h>

#include "pipeline/route_filters.hpp"

using namespace gateway;

TEST_SUITE("route filters") {
  TEST_CASE("ReplacePrefixMatch follows the Gateway API's slash rules") {
    struct row {
      const char *path, *prefix, *replacement, *expected;
    };
    // The table of the HTTPPathModifier documentation, plus a "/" prefix.
    const row rows[] = {
        {"/foo/bar", "/foo", "/xyz", "/xyz/bar"},
        {"/foo/bar", "/foo", "/xyz/", "/xyz/bar"},
        {"/foo/bar", "/foo/", "/xyz", "/xyz/bar"},
        {"/foo/bar", "/foo/", "/xyz/", "/xyz/bar"},
        {"/foo", "/foo", "/xyz", "/xyz"},
        {"/foo/", "/foo", "/xyz", "/xyz/"},
        {"/foo/bar", "/foo", "", "/bar"},
        {"/foo/", "/foo", "", "/"},
        {"/foo", "/foo", "", "/"},
        {"/foo/", "/foo", "/", "/"},
        {"/foo", "/foo", "/", "/"},
        {"/foo/bar", "/", "/xyz", "/xyz/foo/bar"},
        {"/", "/", "/xyz", "/xyz/"},
    };
    std::string out;
    for (const auto& r : rows) {
      replace_prefix(r.path, r.prefix, r.replacement, out);
      CHECK_MESSAGE(out == r.expected, r.path, " ", r.prefix, " -> ", r.replacement);
    }
  }

  TEST_CASE("redirect Location: scheme, host, port and path rules") {
    std::string out;
    redirect_context rq{"http", "Shop.Example.com:8080", "/a/b", "x=1", true, 8080, "/a"};
    request_redirect r;

    SUBCASE("nothing set: same scheme and host, the listener's port, path and query kept") {
      redirect_location(r, rq, out);
      CHECK(out == "http://Shop.Example.com:8080/a/b?x=1");
    }
    SUBCASE("scheme https: its well-known port, left out") {
      r.scheme = "https";
      redirect_location(r, rq, out);
      CHECK(out == "https://Shop.Example.com/a/b?x=1");
    }
    SUBCASE("scheme https with an explicit port") {
      r.scheme = "https";
      r.port = 8443;
      redirect_location(r, rq, out);
      CHECK(out == "https://Shop.Example.com:8443/a/b?x=1");
    }
    SUBCASE("listener port 80 for http is left out") {
      rq.listener_port = 80;
      rq.host = "shop.example.com";
      redirect_location(r, rq, out);
      CHECK(out == "http://shop.example.com/a/b?x=1");
    }
    SUBCASE("hostname, full path, no query") {
      r.hostname = "other.example.com";
      r.path = {path_rewrite_type::full_path, "/new"};
      rq.has_query = false;
      redirect_location(r, rq, out);
      CHECK(out == "http://other.example.com:8080/new");
    }
    SUBCASE("prefix replacement") {
      r.path = {path_rewrite_type::prefix_match, "/v2"};
      redirect_location(r, rq, out);
      CHECK(out == "http://Shop.Example.com:8080/v2/b?x=1");
    }
    SUBCASE("IPv6 host keeps its brackets, loses its port") {
      rq.host = "[::1]:8080";
      r.port = 9000;
      redirect_location(r, rq, out);
      CHECK(out == "http://[::1]:9000/a/b?x=1");
    }
  }

  TEST_CASE("invalid filters are reported, each with what is wrong") {
    route_rule rule;
    CHECK(filter_problems(rule).empty());
    rule.redirect = request_redirect{};
    rule.rewrite = url_rewrite{};
    rule.redirect->status_code = 200;
    rule.redirect->scheme = "ftp";
    rule.rewrite->path = {path_rewrite_type::prefix_match, "/x"};
    rule.matches.push_back({{path_match_type::exact, "/a"}, std::nullopt, {}, {}});
    rule.request_headers.set.push_back({"content-length", "1"});
    rule.request_headers.add.push_back({"bad name", "v"});
    rule.response_headers.set.push_back({"x-ok", "line\r\nbreak"});
    rule.mirrors.push_back({"m", 3, 2});
    auto problems = filter_problems(rule);
    auto has = [&](const char* text) {
      for (const auto& p : problems)
        if (p.find(text) != std::string::npos) return true;
      return false;
    };
    CHECK(has("cannot be used together"));
    CHECK(has("statusCode 200"));
    CHECK(has("scheme 'ftp'"));
    CHECK(has("needs every match of the rule to be a PathPrefix"));
    CHECK(has("'content-length' describes the message framing"));
    CHECK(has("'bad name' is not a header name"));
    CHECK(has("has CR, LF or NUL"));
    CHECK(has("fraction 3/2"));
  }
}
