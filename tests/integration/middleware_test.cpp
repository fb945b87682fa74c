// gateway::middleware: the pipeline in front of a host's own handler, which
// is the backend of routes that have no backendRefs.
#include <gateway/error.hpp>
#include <gateway/middleware.hpp>

#include <future>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"

using namespace gwtest;

namespace {

const std::string app_yaml = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: web}]
  hostnames: [app.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /slow}}]
    timeouts: {request: 200ms}
  - matches: [{path: {type: PathPrefix, value: /}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: x-through, value: middleware}]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-served-by, value: app}]}
---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData: {client-a: key-aaa}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: edge}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key]}]
    forwardClientIDHeader: x-client
  cors:
    allowOrigins: ["https://ui.example.com"]
    allowMethods: [GET, POST]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: limits}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  rateLimit:
    type: Local
    local:
      rules:
      - clientSelectors: [{headers: [{name: x-user, type: Distinct}]}]
        limit: {requests: 3, unit: Minute}
---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: crs}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  ruleSet: {crs: {paranoiaLevel: 1}}
)";

gateway::middleware_request request(std::string url, gateway::evaluation_header extra = {}) {
  gateway::middleware_request r;
  r.url = std::move(url);
  r.headers = {{"host", "app.test"}, {"user-agent", "middleware-test/1"}, {"accept", "*/*"}};
  if (!extra.first.empty()) r.headers.push_back(std::move(extra));
  return r;
}

gateway::middleware_request with_key(std::string url) {
  return request(std::move(url), {"x-api-key", "key-aaa"});
}

}  // namespace

TEST_SUITE("middleware") {
  TEST_CASE(
      "a request the policies admit reaches the handler modified and its response is filtered") {
    gateway::middleware mw(gateway::load_yaml(app_yaml));
    gateway::middleware_exchange ex = mw.handle(with_key("/orders?id=7"));
    REQUIRE_FALSE(ex.replied());
    const gateway::forwarded_request& in = ex.request();
    CHECK(in.method == "GET");
    CHECK(in.target == "/orders?id=7");
    CHECK(in.header("x-client") == "client-a");  // API key checked and its client named
    CHECK(in.header("x-api-key").empty());       // the key itself stripped
    CHECK(in.header("x-through") == "middleware");
    CHECK(in.header("host") == "app.test");
    CHECK_FALSE(in.header("x-request-id").empty());
    gateway::middleware_response handler;
    handler.status = 201;
    handler.headers = {{"content-type", "text/plain"}, {"x-served-by", "handler"}};
    handler.body = "created";
    gateway::middleware_response out = ex.respond(handler);
    CHECK(out.status == 201);
    CHECK(out.body == "created");
    CHECK(out.header("x-served-by") == "app");  // the route's response modifier
    CHECK(out.header("content-type") == "text/plain");
    CHECK(ex.response().status == 201);
    CHECK_THROWS_AS(ex.respond(handler), gateway::error);  // once
    // A POST body goes through whole.
    gateway::middleware_request post = with_key("/orders");
    post.method = "POST";
    post.body = "{\"item\": 7}";
    post.headers.push_back({"content-type", "application/json"});
    gateway::middleware_exchange p = mw.handle(post);
    REQUIRE_FALSE(p.replied());
    CHECK(p.request().body == "{\"item\": 7}");
    CHECK(p.respond({200, {}, "ok", {}}).status == 200);
  }

  TEST_CASE("the policies answer for the handler: 401, the WAF's 403, a preflight, 429") {
    gateway::middleware mw(gateway::load_yaml(app_yaml));
    auto no_key = mw.handle(request("/orders"));
    REQUIRE(no_key.replied());
    CHECK(no_key.response().status == 401);
    CHECK_THROWS_AS((void)no_key.request(), gateway::error);
    CHECK_THROWS_AS(no_key.respond({200, {}, "", {}}), gateway::error);

    auto sqli = mw.handle(with_key("/orders?id=1%27%20OR%20%271%27%3D%271"));
    REQUIRE(sqli.replied());
    CHECK(sqli.response().status == 403);

    gateway::middleware_request preflight = request("/orders");
    preflight.method = "OPTIONS";
    preflight.headers.push_back({"origin", "https://ui.example.com"});
    preflight.headers.push_back({"access-control-request-method", "POST"});
    auto pf = mw.handle(preflight);
    REQUIRE(pf.replied());
    CHECK(pf.response().status == 204);
    CHECK(pf.response().header("access-control-allow-origin") == "https://ui.example.com");

    int limited = 0;
    for (int i = 0; i < 5; ++i) {
      gateway::middleware_request r = with_key("/orders");
      r.headers.push_back({"x-user", "ann"});
      auto ex = mw.handle(r);
      if (ex.replied()) {
        CHECK(ex.response().status == 429);
        ++limited;
      } else {
        ex.respond({200, {}, "ok", {}});
      }
    }
    CHECK(limited == 2);
    const std::string stats = mw.stats_text();
    CHECK(stats.find("route=\"default/app\"") != std::string::npos);
  }

  TEST_CASE(
      "a handler slower than the route's timeout gets the gateway's 504, one never answered ends") {
    gateway::middleware mw(gateway::load_yaml(app_yaml));
    auto slow = mw.handle(with_key("/slow"));
    REQUIRE_FALSE(slow.replied());
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    CHECK(slow.respond({200, {}, "late", {}}).status == 504);
    {
      auto dropped = mw.handle(with_key("/orders"));
      REQUIRE_FALSE(dropped.replied());
    }  // never answered: the request ends
    // The middleware goes on serving; async too.
    std::promise<int> status;
    mw.async_handle(with_key("/orders"),
                    [&](gateway::middleware_exchange ex, std::error_code ec, std::string) {
                      REQUIRE_FALSE(ec);
                      ex.async_respond({202, {}, "", {}}, [&](gateway::client_result r) {
                        status.set_value(r.error ? -1 : r.response.status);
                      });
                    });
    CHECK(status.get_future().get() == 202);
  }

  TEST_CASE("bad input gets clear errors, and a closed middleware refuses") {
    gateway::middleware mw(gateway::load_yaml(app_yaml));
    auto error_of = [&](gateway::middleware_request r, gateway::errc& code) -> std::string {
      try {
        mw.handle(std::move(r));
      } catch (const gateway::error& e) {
        code = static_cast<gateway::errc>(e.code().value());
        return e.what();
      }
      return "";
    };
    gateway::errc code{};
    CHECK_FALSE(error_of(request("no-slash"), code).empty());
    CHECK(code == gateway::errc::invalid_argument);
    gateway::middleware_request named = with_key("/");
    named.listener = "nothing";
    CHECK(error_of(named, code).find("nothing") != std::string::npos);
    CHECK(code == gateway::errc::not_found);
    // A head the gateway refuses is answered as it would be.
    gateway::middleware_request bad = with_key("/");
    bad.headers.push_back({"bad name", "x"});
    auto refused = mw.handle(bad);
    REQUIRE(refused.replied());
    CHECK(refused.response().status == 400);
    // A host with no route is the gateway's 404.
    gateway::middleware_request elsewhere = with_key("/");
    elsewhere.headers[0].second = "other.test";
    auto other = mw.handle(elsewhere);
    REQUIRE(other.replied());
    CHECK(other.response().status == 404);
    auto pending = mw.handle(with_key("/orders"));
    REQUIRE_FALSE(pending.replied());
    mw.close();
    CHECK(error_of(with_key("/"), code).find("closed") != std::string::npos);
    CHECK(code == gateway::errc::invalid_state);
    CHECK_THROWS_AS(pending.respond({200, {}, "", {}}), gateway::error);
  }
}
