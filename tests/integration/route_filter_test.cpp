// HTTPRoute filters and backend choice through the proxy, against real
// upstreams that report what they received.
#include <atomic>
#include <future>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

gateway::route_rule& only_rule(gateway::gateway_config& cfg) {
  return cfg.listeners.front().routes.front().rules.front();
}

client_response get(std::uint16_t port, const std::string& target, const std::string& host,
                    const std::string& extra = "") {
  return request(port, "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra +
                           "Connection: close\r\n\r\n");
}

}  // namespace

TEST_SUITE("route filters through the proxy") {
  TEST_CASE("RequestHeaderModifier: remove, then set (replacing every field), then add") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    auto& m = only_rule(cfg).request_headers;
    m.remove = {"X-Secret"};
    m.set = {{"x-tenant", "blue"}};
    m.add = {{"x-tag", "gw"}};
    running_gateway gw(cfg);
    auto r = get(gw.port(), "/", "a.example",
                 "x-secret: s1\r\nX-Tenant: red\r\nx-tenant: green\r\nx-tag: client\r\n");
    REQUIRE(r.status == 200);
    auto seen = up.last();
    CHECK(seen.count("x-secret") == 0);
    CHECK(seen.count("x-tenant") == 1);
    CHECK(seen.header("x-tenant") == "blue");
    CHECK(seen.count("x-tag") == 2);  // the client's and the added one
  }

  TEST_CASE("ResponseHeaderModifier edits what the client gets") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.body = "ok";
      p.headers = {{"server", "upstream/1.0"}, {"x-internal", "1"}, {"x-keep", "1"}};
      return p;
    });
    auto cfg = proxy_config({up.port()});
    auto& m = only_rule(cfg).response_headers;
    m.set = {{"Server", "gateway"}};
    m.remove = {"x-internal"};
    m.add = {{"x-frame-options", "DENY"}};
    running_gateway gw(cfg);
    auto r = get(gw.port(), "/", "a");
    REQUIRE(r.status == 200);
    CHECK(r.body == "ok");
    CHECK(r.count("server") == 1);
    CHECK(r.header("server") == "gateway");
    CHECK(r.count("x-internal") == 0);
    CHECK(r.header("x-keep") == "1");
    CHECK(r.header("x-frame-options") == "DENY");
  }

  TEST_CASE("RequestRedirect answers with Location and never reaches a backend") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    cfg.listeners.front().port = 8080;  // what Gateway API logic sees
    auto& rule = only_rule(cfg);
    rule.matches.push_back({{gateway::path_match_type::prefix, "/old"}, std::nullopt, {}, {}});
    rule.backends.clear();

    SUBCASE("to https: well-known port left out, path and query kept") {
      rule.redirect = gateway::request_redirect{"https", "", 0, {}, 301};
      running_gateway gw(cfg);
      auto r = get(gw.port(), "/old/page?id=7", "shop.example.com");
      CHECK(r.status == 301);
      CHECK(r.header("location") == "https://shop.example.com/old/page?id=7");
    }
    SUBCASE("same scheme: the listener's port; prefix replaced; 308") {
      rule.redirect = gateway::request_redirect{
          "", "new.example.com", 0, {gateway::path_rewrite_type::prefix_match, "/new"}, 308};
      running_gateway gw(cfg);
      auto r = get(gw.port(), "/old/page", "shop.example.com:8080");
      CHECK(r.status == 308);
      CHECK(r.header("location") == "http://new.example.com:8080/new/page");
    }
    SUBCASE("explicit port and full path; 302 by default") {
      rule.redirect = gateway::request_redirect{};
      rule.redirect->port = 9443;
      rule.redirect->path = {gateway::path_rewrite_type::full_path, "/login"};
      running_gateway gw(cfg);
      auto r = get(gw.port(), "/old", "shop.example.com");
      CHECK(r.status == 302);
      CHECK(r.header("location") == "http://shop.example.com:9443/login");
    }
    CHECK(up.requests() == 0);
  }

  TEST_CASE("URLRewrite: hostname and path as the upstream sees them") {
    test_upstream up;
    auto cfg = proxy_config({up.port()});
    auto& rule = only_rule(cfg);
    rule.matches.push_back({{gateway::path_match_type::prefix, "/api/"}, std::nullopt, {}, {}});

    SUBCASE("ReplacePrefixMatch and hostname") {
      rule.rewrite =
          gateway::url_rewrite{"internal.svc", {gateway::path_rewrite_type::prefix_match, "/"}};
      running_gateway gw(cfg);
      REQUIRE(get(gw.port(), "/api/users/7?full=1", "public.example.com").status == 200);
      auto seen = up.last();
      CHECK(seen.target == "/users/7?full=1");
      CHECK(seen.header("host") == "internal.svc");
      CHECK(seen.count("host") == 1);
      CHECK(seen.header("x-forwarded-host") == "public.example.com");
      REQUIRE(get(gw.port(), "/api", "public.example.com").status == 200);
      CHECK(up.last().target == "/");
    }
    SUBCASE("ReplaceFullPath keeps the Host") {
      rule.rewrite = gateway::url_rewrite{"", {gateway::path_rewrite_type::full_path, "/v2/all"}};
      running_gateway gw(cfg);
      REQUIRE(get(gw.port(), "/api/x/y", "public.example.com").status == 200);
      CHECK(up.last().target == "/v2/all");
      CHECK(up.last().header("host") == "public.example.com");
    }
  }

  TEST_CASE("weighted backends split traffic by weight, and weight 0 gets nothing") {
    test_upstream one, three, none;
    gateway::gateway_config cfg = proxy_config({one.port()});
    cfg.clusters = {cluster("one", {one.port()}), cluster("three", {three.port()}),
                    cluster("none", {none.port()})};
    only_rule(cfg).backends = {{"one", 1, ""}, {"three", 3, ""}, {"none", 0, ""}};
    running_gateway gw(cfg);
    test_client c(gw.port());
    constexpr int total = 1000;
    for (int i = 0; i < total; ++i) {
      REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      REQUIRE(c.read_response().status == 200);
    }
    // Binomial(1000, 1/4): mean 250, sd 13.7; six sd either side never fails by chance.
    CHECK(one.requests() >= 168);
    CHECK(one.requests() <= 332);
    CHECK(one.requests() + three.requests() == total);
    CHECK(none.requests() == 0);
  }

  TEST_CASE("an invalid backend answers 500 for its share, the others keep working") {
    test_upstream up;
    gateway::gateway_config cfg = proxy_config({up.port()});
    SUBCASE("one of two invalid") {
      only_rule(cfg).backends = {{"up", 1, ""}, {"", 1, "Service default/gone not found"}};
      running_gateway gw(cfg);
      int ok = 0, errors = 0;
      for (int i = 0; i < 200; ++i) {
        int status = get(gw.port(), "/", "a").status;
        ok += status == 200;
        errors += status == 500;
      }
      CHECK(ok + errors == 200);
      CHECK(ok >= 50);  // Binomial(200, 1/2): mean 100, sd 7
      CHECK(errors >= 50);
    }
    SUBCASE("all invalid") {
      only_rule(cfg).backends = {{"", 1, "Service default/gone not found"}};
      running_gateway gw(cfg);
      CHECK(get(gw.port(), "/", "a").status == 500);
      CHECK(up.requests() == 0);
    }
  }
}

TEST_SUITE("request mirror") {
  // A rule that sends to cluster "up" and mirrors to cluster "shadow".
  gateway::gateway_config mirrored(std::uint16_t up, std::uint16_t shadow, std::uint32_t numerator,
                                   std::uint32_t denominator) {
    gateway::gateway_config cfg = proxy_config({up});
    cfg.clusters.push_back(cluster("shadow", {shadow}));
    cfg.listeners.front().routes.front().rules.front().mirrors = {
        {"shadow", numerator, denominator}};
    return cfg;
  }

  // Waits (bounded) until `u` has seen `n` requests.
  bool wait_requests(const test_upstream& u, std::size_t n) {
    for (int i = 0; i < 400 && u.requests() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return u.requests() >= n;
  }

  TEST_CASE("the mirror gets a copy, and a slow mirror does not delay the request") {
    test_upstream up;
    // The mirror answers only once the client has its answer (or after 30 s):
    // a gateway that waited for the mirror would leave the client without one.
    std::atomic<bool> client_answered{false};
    std::atomic<bool> mirror_answered{false};
    std::promise<received_request> mirrored_copy;
    test_upstream shadow([&](const received_request& copy) {
      mirrored_copy.set_value(copy);
      for (int i = 0; i < 3000 && !client_answered; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      mirror_answered = true;
      response_plan p;
      p.body = "shadow";
      return p;
    });
    running_gateway gw(mirrored(up.port(), shadow.port(), 1, 1));
    auto r = request(gw.port(),
                     "POST /orders?x=1 HTTP/1.1\r\nHost: shop\r\nX-Trace: t1\r\n"
                     "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
    CHECK(!mirror_answered.load());
    client_answered = true;
    CHECK(r.status == 200);
    CHECK(r.body == "POST /orders?x=1 5");  // the main upstream's answer, not the mirror's
    auto arrived = mirrored_copy.get_future();
    REQUIRE(arrived.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    auto copy = arrived.get();
    CHECK(copy.method == "POST");
    CHECK(copy.target == "/orders?x=1");
    CHECK(copy.header("host") == "shop");
    CHECK(copy.header("x-trace") == "t1");
    CHECK(copy.body == "hello");
    CHECK(copy.header("x-request-id") == up.last().header("x-request-id"));
  }

  TEST_CASE("a dead mirror changes nothing for the request") {
    test_upstream up;
    std::uint16_t dead;
    {
      test_upstream gone;
      dead = gone.port();
    }
    running_gateway gw(mirrored(up.port(), dead, 1, 1));
    for (int i = 0; i < 20; ++i)
      CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").status ==
            200);
    // Each request was mirrored, and each copy failed (not skipped, not never sent).
    CHECK(eventually([&] {
      return metric(gw.server(), "gateway_mirror_requests_total{result=\"failed\"}") == 20;
    }));
    CHECK(metric(gw.server(), "gateway_mirror_requests_total{result=\"sent\"}") == 0);
  }

  TEST_CASE("the mirrored share follows the fraction") {
    test_upstream up, shadow;
    running_gateway gw(mirrored(up.port(), shadow.port(), 1, 4));
    test_client c(gw.port());
    constexpr int total = 400;
    for (int i = 0; i < total; ++i) {
      REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      REQUIRE(c.read_response().status == 200);
    }
    // Binomial(400, 1/4): mean 100, sd 8.7; six sd either side.
    // Bounded wait for the lower bound; copies still in flight can only make
    // the count lower, so the upper bound needs no wait.
    wait_requests(shadow, 48);
    CHECK(shadow.requests() >= 48);
    CHECK(shadow.requests() <= 152);
    CHECK(up.requests() == total);
  }
}

TEST_SUITE("cors filter") {
  // A route with the CORS filter, loaded from YAML, bound on 127.0.0.1:0.
  gateway::gateway_config cors_config(std::uint16_t upstream, bool credentials) {
    return load_on_loopback(gateway_yaml + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  parentRefs: [{name: web}]
  rules:
  - filters:
    - type: CORS
      cors:
        allowOrigins: ["https://app.example.com", "https://*.partner.org"]
        allowMethods: [GET, PUT]
        allowHeaders: [x-token]
        exposeHeaders: [x-total]
        maxAge: 600
        allowCredentials: )" +
                            (credentials ? "true" : "false") + R"(
    backendRefs: [{name: api, port: 80}]
)" + service_yaml("api", upstream));
  }

  TEST_CASE("preflights of allowed origins are answered by the gateway") {
    test_upstream up;
    running_gateway gw(cors_config(up.port(), true));
    auto r = request(gw.port(),
                     "OPTIONS /items HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
                     "Access-Control-Request-Method: PUT\r\n"
                     "Access-Control-Request-Headers: x-token\r\nConnection: close\r\n\r\n");
    CHECK(r.status == 204);
    CHECK(r.header("access-control-allow-origin") == "https://app.example.com");
    CHECK(r.header("access-control-allow-methods") == "GET, PUT");
    CHECK(r.header("access-control-allow-headers") == "x-token");
    CHECK(r.header("access-control-max-age") == "600");
    CHECK(r.header("access-control-allow-credentials") == "true");
    CHECK(r.header("access-control-expose-headers") == "x-total");
    CHECK(r.header("vary") == "Origin");
    CHECK(up.requests() == 0);
  }

  TEST_CASE("actual requests get the CORS fields, other origins get none") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.body = "ok";
      p.headers = {{"access-control-allow-origin", "*"}};  // the route's policy replaces it
      return p;
    });
    running_gateway gw(cors_config(up.port(), false));
    auto get_from = [&](const std::string& origin) {
      return request(gw.port(), "GET /items HTTP/1.1\r\nHost: a\r\nOrigin: " + origin +
                                    "\r\nConnection: close\r\n\r\n");
    };
    auto r = get_from("https://shop.partner.org");
    CHECK(r.status == 200);
    CHECK(r.count("access-control-allow-origin") == 1);
    CHECK(r.header("access-control-allow-origin") == "https://shop.partner.org");
    CHECK(r.header("access-control-expose-headers") == "x-total");
    CHECK(r.count("access-control-allow-credentials") == 0);
    r = get_from("https://evil.example");
    CHECK(r.status == 200);
    CHECK(r.header("access-control-allow-origin") == "*");  // the upstream's own, untouched
    CHECK(r.count("access-control-expose-headers") == 0);
    // A preflight from an origin the policy does not allow is answered by the
    // gateway too, without a CORS field, and never reaches the upstream.
    auto p = request(gw.port(),
                     "OPTIONS /items HTTP/1.1\r\nHost: a\r\nOrigin: http://partner.org\r\n"
                     "Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n");
    CHECK(p.status == 204);
    for (const auto& field : p.headers)
      CHECK_MESSAGE(!field.first.starts_with("access-control-"), field.first);
    CHECK(up.requests() == 2);
    // An OPTIONS request that is no preflight is the upstream's.
    CHECK(request(gw.port(),
                  "OPTIONS /items HTTP/1.1\r\nHost: a\r\nOrigin: http://partner.org\r\n"
                  "Connection: close\r\n\r\n")
              .status == 200);
    CHECK(up.requests() == 3);
  }
}

TEST_SUITE("route retry") {
  // Answers 503 to the first `failures` requests, then 200 with what it got.
  handler fails_first(int failures) {
    auto seen = std::make_shared<std::atomic<int>>(0);
    return [seen, failures](const received_request& r) {
      response_plan p;
      if ((*seen)++ < failures) {
        p.status = 503;
        p.body = "busy";
      } else {
        p.body = r.method + " " + r.body;
      }
      return p;
    };
  }

  gateway::gateway_config with_retry(std::vector<std::uint16_t> ports, std::uint32_t attempts) {
    auto cfg = proxy_config(std::move(ports));
    cfg.listeners.front().routes.front().rules.front().retry =
        gateway::retry_policy{{502, 503}, attempts, std::chrono::milliseconds(1)};
    return cfg;
  }

  TEST_CASE("a retried status is dropped and the request sent again, body included") {
    test_upstream up(fails_first(2));
    running_gateway gw(with_retry({up.port()}, 2));
    auto r = request(gw.port(),
                     "PUT /doc HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n"
                     "\r\nhello");
    CHECK(r.status == 200);
    CHECK(r.body == "PUT hello");
    CHECK(up.requests() == 3);
  }

  TEST_CASE("when the attempts run out the last answer is relayed") {
    test_upstream up(fails_first(5));
    running_gateway gw(with_retry({up.port()}, 1));
    auto r = request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    CHECK(r.status == 503);
    CHECK(r.body == "busy");
    CHECK(up.requests() == 2);
  }

  TEST_CASE("a POST is not retried on a status, only when it never reached the upstream") {
    test_upstream up(fails_first(1));
    running_gateway gw(with_retry({up.port()}, 2));
    auto r =
        request(gw.port(),
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
    CHECK(r.status == 503);
    CHECK(up.requests() == 1);
  }

  TEST_CASE(
      "every try counts: attempts N means at most N+1 tries and replays of pooled connections are "
      "tries") {
    for (std::uint32_t attempts : {1u, 2u, 3u}) {
      CAPTURE(attempts);
      // Resets its first attempts+1 connections after reading the request.
      test_upstream up([attempts](const received_request& r) {
        response_plan p;
        p.reset = r.connection_index <= attempts;
        return p;
      });
      running_gateway gw(with_retry({up.port()}, attempts));
      test_client c(gw.port());
      REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      CHECK(c.read_response().status == 502);
      CHECK(up.requests() == attempts + 1);
      // With a connection in the pool that the upstream then closes, the
      // replay on a fresh connection is one of the tries too.
      auto served = std::make_shared<std::atomic<int>>(0);
      test_upstream pooled([served](const received_request&) {
        response_plan p;
        p.reset = (*served)++ > 0;  // answers the first request only, then resets
        return p;
      });
      running_gateway gw2(with_retry({pooled.port()}, attempts));
      test_client k(gw2.port());
      REQUIRE(k.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      REQUIRE(k.read_response().status == 200);  // its connection goes to the pool
      REQUIRE(k.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      CHECK(k.read_response().status == 502);
      CHECK(pooled.requests() == 1 + attempts + 1);
    }
  }

  TEST_CASE("the request timeout ends retries with a 504 during a try or between tries") {
    // 500 after 100 ms, four times; tries of 200 ms, the request 400 ms. A
    // 1 ms backoff lets a try run into the deadline; an 800 ms one (400 ms at
    // least, with jitter) puts the deadline between the first try and the next.
    for (const auto backoff : {std::chrono::milliseconds(1), std::chrono::milliseconds(800)}) {
      CAPTURE(backoff.count());
      test_upstream up([](const received_request&) {
        response_plan p;
        p.delay = std::chrono::milliseconds(100);
        p.status = 500;
        return p;
      });
      auto cfg = proxy_config({up.port()});
      auto& rule = cfg.listeners.front().routes.front().rules.front();
      rule.retry = gateway::retry_policy{{500}, 5, backoff};
      rule.backend_request_timeout = std::chrono::milliseconds(200);
      rule.request_timeout = std::chrono::milliseconds(400);
      running_gateway gw(cfg);
      auto r = request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
      CHECK(r.status == 504);
      CHECK(up.requests() >= 1);
      CHECK(up.requests() <= 5);
    }
  }

  TEST_CASE("a connect failure moves on to the next endpoint") {
    test_upstream live(fails_first(0));
    std::uint16_t dead;
    {
      test_upstream gone;
      dead = gone.port();
    }
    running_gateway gw(with_retry({dead, live.port()}, 1));
    for (int i = 0; i < 10; ++i)  // round robin starts on either endpoint
      CHECK(
          request(gw.port(),
                  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
              .body == "POST hi");
  }
}

TEST_SUITE("route timeouts and matches through the proxy") {
  TEST_CASE("backendRequest bounds each try, request bounds them all") {
    // Every answer takes 400 ms: tries of 150 ms time out; the request's 1 s
    // allows a few of them, then 504.
    test_upstream slow([](const received_request&) {
      response_plan p;
      p.delay = std::chrono::milliseconds(400);
      return p;
    });
    auto cfg = proxy_config({slow.port()});
    auto& rule = cfg.listeners.front().routes.front().rules.front();
    rule.request_timeout = std::chrono::milliseconds(1000);
    rule.backend_request_timeout = std::chrono::milliseconds(150);
    rule.retry = gateway::retry_policy{{}, 10, std::chrono::milliseconds(10)};
    running_gateway gw(cfg);
    auto r = request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    CHECK(r.status == 504);
    CHECK(slow.requests() >= 3);  // several tries...
    CHECK(slow.requests() <= 8);  // ...but not the 11 that attempts alone would allow
  }

  TEST_CASE("every match type selects its rule") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      p.body = r.target;
      return p;
    });
    running_gateway gw(load_on_loopback(gateway_yaml + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: m}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: Exact, value: /exact}}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-rule, value: exact}]}}]
    backendRefs: [{name: up, port: 80}]
  - matches: [{path: {type: RegularExpression, value: "/items/[0-9]+"}}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-rule, value: regex}]}}]
    backendRefs: [{name: up, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /p}, method: DELETE}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-rule, value: method}]}}]
    backendRefs: [{name: up, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /p}, headers: [{name: X-Env, value: canary}]}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-rule, value: header}]}}]
    backendRefs: [{name: up, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /p}, headers: [{name: x-user, type: RegularExpression, value: "adm.*"}]}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-rule, value: header-regex}]}}]
    backendRefs: [{name: up, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /p}, queryParams: [{name: v, value: "2"}]}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-rule, value: query}]}}]
    backendRefs: [{name: up, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /p}, queryParams: [{name: id, type: RegularExpression, value: "[a-f]+"}]}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-rule, value: query-regex}]}}]
    backendRefs: [{name: up, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /p}}]
    filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: x-rule, value: prefix}]}}]
    backendRefs: [{name: up, port: 80}]
)" + service_yaml("up", up.port())));
    auto rule_for = [&](const std::string& method, const std::string& target,
                        const std::string& extra = "") {
      auto r = request(gw.port(), method + " " + target + " HTTP/1.1\r\nHost: a\r\n" + extra +
                                      "Connection: close\r\n\r\n");
      return r.status == 404 ? std::string("404") : r.header("x-rule");
    };
    CHECK(rule_for("GET", "/exact") == "");  // its modifier acts on the request
    CHECK(up.last().header("x-rule") == "exact");
    CHECK(rule_for("GET", "/items/42") == "regex");
    CHECK(rule_for("GET", "/items/4x") == "404");
    CHECK(rule_for("DELETE", "/p/1") == "method");
    CHECK(rule_for("GET", "/p/1", "x-env: canary\r\n") == "header");
    CHECK(rule_for("GET", "/p/1", "X-User: admin\r\n") == "header-regex");
    CHECK(rule_for("GET", "/p/1?v=2") == "query");
    CHECK(rule_for("GET", "/p/1?id=beef") == "query-regex");
    CHECK(rule_for("GET", "/p/1?id=xyz") == "prefix");
    CHECK(rule_for("GET", "/pq") == "404");  // element-wise prefix
  }
}

TEST_SUITE("backendRef filters") {
  std::string field(const std::vector<gateway::evaluation_header>& fields, std::string_view name) {
    for (const auto& [n, v] : fields)
      if (gateway::http::iequals(n, name)) return v;
    return "";
  }

  // Reports who it is and what it got: "name target x-backend=... x-rule=...".
  handler reporting(std::string name) {
    return [name = std::move(name)](const received_request& r) {
      response_plan p;
      p.body = name + " " + r.target + " x-backend=" + r.header("x-backend") +
               " x-rule=" + r.header("x-rule");
      return p;
    };
  }

  std::string yaml(std::uint16_t one, std::uint16_t two, std::uint16_t shadow) {
    return gateway_yaml + service_yaml("one", one) + service_yaml("two", two) +
           service_yaml("shadow", shadow) + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: split}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-rule, value: r}, {name: x-backend, value: rule}]}
    backendRefs:
    - name: one
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {set: [{name: x-backend, value: one}]}
      - type: ResponseHeaderModifier
        responseHeaderModifier: {add: [{name: x-served, value: one}]}
      - type: URLRewrite
        urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v1}}
    - name: two
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {set: [{name: x-backend, value: two}]}
      - type: RequestMirror
        requestMirror: {backendRef: {name: shadow, port: 80}}
      - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: tag}}
  - matches: [{path: {type: PathPrefix, value: /moved}}]
    backendRefs:
    - name: one
      port: 80
      filters:
      - type: RequestRedirect
        requestRedirect: {hostname: new.example, statusCode: 301}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: tag}
spec:
  type: headers
  config: {response: {set: [{name: x-tagged, value: two}]}}
)";
  }

  TEST_CASE("each weighted backend applies its own filters after the rule's, and only its own") {
    test_upstream one(reporting("one")), two(reporting("two")), shadow(reporting("shadow"));
    running_gateway gw(load_on_loopback(yaml(one.port(), two.port(), shadow.port())));
    int to_one = 0, to_two = 0;
    for (int i = 0; i < 60; ++i) {
      auto r = get(gw.port(), "/api/items", "a");
      REQUIRE(r.status == 200);
      if (r.body.starts_with("one")) {
        ++to_one;
        CHECK(r.body == "one /v1/items x-backend=one x-rule=r");
        CHECK(r.header("x-served") == "one");
        CHECK(r.count("x-tagged") == 0);
      } else {
        ++to_two;
        CHECK(r.body == "two /api/items x-backend=two x-rule=r");
        CHECK(r.count("x-served") == 0);
        CHECK(r.header("x-tagged") == "two");
      }
    }
    // Binomial(60, 1/2): both are picked (each misses with probability 2^-60).
    CHECK(to_one > 0);
    CHECK(to_two > 0);
    // Only requests sent to `two` are mirrored.
    CHECK(eventually([&] { return shadow.requests() == static_cast<std::size_t>(to_two); }));
    CHECK(shadow.requests() == static_cast<std::size_t>(to_two));
    // A backend whose filter redirects answers for the gateway.
    auto moved = get(gw.port(), "/moved/x", "a");
    CHECK(moved.status == 301);
    CHECK(moved.header("location") == "http://new.example/moved/x");
    CHECK(one.requests() == static_cast<std::size_t>(to_one));
    // Evaluation takes the same variants.
    bool saw_one = false, saw_two = false;
    for (int i = 0; i < 40 && !(saw_one && saw_two); ++i) {
      gateway::evaluation_request e;
      e.url = "http://a/api/items";
      const auto ev = gw.server().evaluate(e);
      REQUIRE(ev.upstream);
      if (ev.upstream->target == "/v1/items") {
        saw_one = true;
        CHECK(field(ev.upstream->headers, "x-backend") == "one");
      } else {
        saw_two = true;
        CHECK(ev.upstream->target == "/api/items");
        CHECK(field(ev.upstream->headers, "x-backend") == "two");
      }
    }
    CHECK((saw_one && saw_two));
  }
}
