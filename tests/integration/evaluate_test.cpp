// server::evaluate against the same gateway serving real requests: the WAF
// (its rule ids), CORS preflights, body limits, consistent-hash endpoints,
// malformed requests and drops must come out as the real answers do.
#include <doctest/doctest.h>

#include <algorithm>
#include <thread>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;
using gateway::evaluation_request;
using gateway::evaluation_result;

namespace {

const bool pool_configured = (gateway::configure_waf_pool({0, 0}), true);

std::string header_of(const std::vector<gateway::evaluation_header>& fields,
                      std::string_view name) {
  for (const auto& [n, v] : fields)
    if (gateway::http::iequals(n, name)) return v;
  return "";
}

evaluation_request get_request(const std::string& url,
                               std::vector<gateway::evaluation_header> h = {},
                               std::string method = "GET", std::string body = "") {
  evaluation_request r;
  r.method = std::move(method);
  r.url = url;
  r.headers = std::move(h);
  if (url.front() == '/') r.headers.insert(r.headers.begin(), {"host", "x"});  // HTTP/1.1 needs one
  r.body = std::move(body);
  return r;
}

// The request evaluate() is given (origin form), as raw bytes for a real client.
std::string raw(const evaluation_request& r) {
  std::string out = r.method + " " + r.url + " HTTP/1.1\r\n";
  for (const auto& [n, v] : r.headers)
    out += n + ": " + v + "\r\n";
  if (!r.body.empty()) out += "content-length: " + std::to_string(r.body.size()) + "\r\n";
  return out + "connection: close\r\n\r\n" + r.body;
}

const std::string waf_yaml = R"(---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: waf}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  ruleSet:
    crs: {paranoiaLevel: 1}
    directives: |
      SecRule ARGS:bye "@streq now" "id:10004,phase:2,drop,log,msg:'dropped'"
)";

}  // namespace

TEST_SUITE("evaluate") {
  TEST_CASE("the WAF: rule ids, the deny, a drop, and ordinary traffic, as served") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) + waf_yaml));
    const std::vector<gateway::evaluation_header> browser = {
        {"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"},
        {"accept", "text/html"}};

    auto attack = get_request("/search?q=1%27%20OR%20%271%27%3D%271", browser);
    evaluation_result e = gw.server().evaluate(attack);
    REQUIRE(e.response);
    CHECK(e.response->status == 403);
    CHECK(e.waf_action == "deny");
    CHECK(std::find(e.waf_rules.begin(), e.waf_rules.end(), "942100") != e.waf_rules.end());
    CHECK(std::find(e.waf_rules.begin(), e.waf_rules.end(), "949110") != e.waf_rules.end());
    REQUIRE(e.filters.size() >= 2);  // the WAF pauses for its pool, then decides
    CHECK(e.filters.front().filter == "waf");
    CHECK(e.filters.front().decision == "pause");
    CHECK(e.filters[1].phase == "resume");
    CHECK(e.filters[1].decision == "reply");
    CHECK(!e.upstream);
    const std::size_t before = up.requests();
    CHECK(request(gw.port(), raw(attack)).status == 403);
    CHECK(up.requests() == before);

    // libmodsecurity answers a phase-2 "drop" with its deny: both ways alike.
    auto bye = get_request("/?bye=now", browser);
    e = gw.server().evaluate(bye);
    REQUIRE(e.response);
    CHECK(e.waf_rules == std::vector<std::string>{"10004"});
    CHECK(request(gw.port(), raw(bye)).status == e.response->status);

    auto fine = get_request("/products?page=2", browser);
    e = gw.server().evaluate(fine);
    CHECK(e.waf_action == "pass");
    CHECK(e.waf_rules.empty());
    REQUIRE(e.upstream);
    CHECK(e.upstream->target == "/products?page=2");
    CHECK(request(gw.port(), raw(fine)).status == 200);
  }

  TEST_CASE("a CORS preflight and a body over the limit are answered as served") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port(), R"(    filters:
    - type: CORS
      cors: {allowOrigins: ["https://app.example"], allowMethods: [GET, PUT], maxAge: 600}
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: small}}
)") + R"(---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: small}
spec: {type: request-size-limit, config: {maxBytes: 10}}
)"));
    auto preflight = get_request(
        "/x", {{"origin", "https://app.example"}, {"access-control-request-method", "PUT"}},
        "OPTIONS");
    evaluation_result e = gw.server().evaluate(preflight);
    REQUIRE(e.response);
    auto real = request(gw.port(), raw(preflight));
    CHECK(e.response->status == real.status);
    CHECK(e.response->status == 204);
    for (const char* name : {"access-control-allow-origin", "access-control-allow-methods",
                             "access-control-max-age", "content-length"})
      CHECK(header_of(e.response->headers, name) == real.header(name));

    auto big = get_request("/upload", {}, "POST", std::string(20, 'x'));
    e = gw.server().evaluate(big);
    REQUIRE(e.response);
    real = request(gw.port(), raw(big));
    CHECK(e.response->status == real.status);
    CHECK(e.response->body == real.body);
    auto small = get_request("/upload", {}, "POST", "tiny");
    e = gw.server().evaluate(small);
    REQUIRE(e.upstream);
    CHECK(e.upstream->body == "tiny");
    CHECK(header_of(e.upstream->headers, "content-length") == "4");
  }

  TEST_CASE("a consistent-hash endpoint is the one the real request reaches") {
    std::vector<std::unique_ptr<test_upstream>> ups;
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 4; ++i) {
      ups.push_back(std::make_unique<test_upstream>(echo));
      ports.push_back(ups.back()->port());
    }
    auto cfg = proxy_config(ports);
    cfg.clusters[0].load_balancer.policy = gateway::lb_policy::ring_hash;
    cfg.clusters[0].load_balancer.hash.source = gateway::hash_source::header;
    cfg.clusters[0].load_balancer.hash.name = "x-user";
    running_gateway gw(cfg, 2);
    for (const char* user : {"ann", "bob", "cy", "dee", "eve", "fay"}) {
      evaluation_result e = gw.server().evaluate(get_request("/", {{"x-user", user}}));
      REQUIRE(e.upstream);
      CHECK(e.backend == "up");
      std::vector<std::size_t> before;
      for (auto& u : ups)
        before.push_back(u->requests());
      CHECK(request(gw.port(), raw(get_request("/", {{"x-user", user}}))).status == 200);
      std::string reached;
      for (std::size_t i = 0; i < ups.size(); ++i)
        if (ups[i]->requests() != before[i]) reached = "127.0.0.1:" + std::to_string(ports[i]);
      CHECK(e.endpoint == reached);
    }
  }

  TEST_CASE("a malformed request gets the parser's answer, and evaluations run concurrently") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())), 2);
    evaluation_result e = gw.server().evaluate(get_request("/", {{"bad name", "x"}}));
    REQUIRE(e.response);
    CHECK(e.response->status == 400);
    CHECK(header_of(e.response->headers, "connection") == "close");
    CHECK(request(gw.port(), "GET / HTTP/1.1\r\nhost: x\r\nbad name: x\r\n\r\n").status == 400);

    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          auto r = gw.server().evaluate(get_request("http://app.test/p?i=" + std::to_string(i)));
          if (r.upstream && r.upstream->target == "/p?i=" + std::to_string(i) &&
              header_of(r.upstream->headers, "host") == "app.test" && !r.endpoint.empty())
            ++ok;
        }
      });
    for (auto& t : threads)
      t.join();
    CHECK(ok.load() == 200);
    // A listener or URL that cannot be used is an error, not a guess.
    CHECK_THROWS_WITH_AS(gw.server().evaluate(get_request("http://app.test:81/")),
                         doctest::Contains("port 81"), gateway::error);
    CHECK_THROWS_WITH_AS(gw.server().evaluate(get_request("http://app.test:81/")),
                         doctest::Contains("the listeners are: default/web/http (HTTP, port 80, "
                                           "bound on an ephemeral port of 127.0.0.1)"),
                         gateway::error);
    CHECK_THROWS_AS(gw.server().evaluate(get_request("mailto:x")), gateway::error);
  }
}
