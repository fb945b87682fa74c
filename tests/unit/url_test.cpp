// The one URL reader (parse_url) and the one port stripper it and the
// router share.
#include <doctest/doctest.h>

#include <gateway/error.hpp>

#include "router/host_name.hpp"
#include "server/target_url.hpp"

using namespace gateway;

TEST_SUITE("urls") {
  TEST_CASE("host_without_port drops a port, and keeps an IPv6 literal whole") {
    CHECK(host_without_port("a.test:8080") == "a.test");
    CHECK(host_without_port("a.test") == "a.test");
    CHECK(host_without_port("[::1]:443") == "[::1]");
    CHECK(host_without_port("[::1]") == "[::1]");
    CHECK(host_without_port("[::1") == "[::1");  // unclosed: nothing to drop
    CHECK(host_without_port("") == "");
    char storage[max_host_length];
    CHECK(request_host_key("Shop.Example.:80", storage) == "shop.example");
  }

  TEST_CASE("parse_url: scheme, host, port and whether it was written, target") {
    parsed_url u = parse_url("https://idp.example/.well-known/jwks.json?x=1", "t");
    CHECK(u.absolute);
    CHECK(u.https);
    CHECK(u.authority == "idp.example");
    CHECK(u.host == "idp.example");
    CHECK(u.port == 443);
    CHECK_FALSE(u.port_given);
    CHECK(u.target == "/.well-known/jwks.json?x=1");
    u = parse_url("http://[::1]:4318", "t");
    CHECK(u.host == "::1");
    CHECK(u.authority == "[::1]:4318");
    CHECK(u.port == 4318);
    CHECK(u.port_given);
    CHECK(u.target == "/");
    u = parse_url("HTTP://[2001:db8::1]/p?q", "t");  // the scheme is case-blind
    CHECK(u.host == "2001:db8::1");
    CHECK(u.authority == "[2001:db8::1]");
    CHECK(u.port == 80);
    CHECK(u.target == "/p?q");
    u = parse_url("http://127.0.0.1:8080?x", "t");
    CHECK(u.host == "127.0.0.1");
    CHECK(u.target == "/?x");
    u = parse_url("/only/a/path", "t");
    CHECK(parse_url("//a/../b%zz", "t").target == "//a/../b%zz");  // a target, kept as written
    CHECK(parse_url("*", "t").target == "*");
    CHECK_FALSE(u.absolute);
    CHECK(u.target == "/only/a/path");
    for (std::string_view bad :
         {"http://x:0/", "http://x:65536/", "http://x:8o/", "http://x:/", "http://[::1]x/",
          "http://:80/", "ftp://x/", "x/y", "http://user:pw@x/", "http://x y/", "http://x:8080:1/",
          "http://x:99999999999999999999/", "http://x:99999/", "http://%61.test/"}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(parse_url(bad, "t"), gateway::error);
    }
  }
}
