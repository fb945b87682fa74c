#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace gateway;

namespace {
const std::string base = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: any
  addresses:
  - {type: IPAddress, value: 127.0.0.1}
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: api-abc
  labels:
    kubernetes.io/service-name: api
addressType: IPv4
endpoints:
- addresses: [10.0.0.1, 10.0.0.2]
- addresses: [10.0.0.3]
  conditions: {ready: false}
ports:
- {name: http, port: 9000}
)";

std::string with_route(const std::string& route) {
  return base + "---\n" + route;
}

// The message load_yaml throws, or "" if it loads.
std::string load_error(const std::string& text) {
  try {
    load_yaml(text, "gw.yaml");
  } catch (const error& e) {
    CHECK(e.code() == errc::invalid_config);
    return e.what();
  }
  return "";
}
}  // namespace

TEST_SUITE("config") {
  TEST_CASE(
      "Gateway, HTTPRoute, Service and EndpointSlice load into listeners, routes and clusters") {
    auto cfg = load_yaml(with_route(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
spec:
  parentRefs: [{name: web}]
  hostnames: [API.example.com]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /v1}
      method: GET
      headers: [{name: x-env, value: prod}]
      queryParams: [{type: RegularExpression, name: id, value: "[0-9]+"}]
    backendRefs:
    - {name: api, port: 80, weight: 3}
    timeouts: {request: 2s}
)"));
    REQUIRE(cfg.listeners.size() == 1);
    const auto& l = cfg.listeners[0];
    CHECK(l.name == "default/web/http");
    CHECK(l.bind_address == "127.0.0.1");
    CHECK(l.bind_port == 8080);
    REQUIRE(l.routes.size() == 1);
    const auto& r = l.routes[0];
    CHECK(r.hostnames == std::vector<std::string>{"api.example.com"});
    REQUIRE(r.rules.size() == 1);
    CHECK(r.rules[0].request_timeout == std::chrono::seconds(2));
    const auto& m = r.rules[0].matches.at(0);
    CHECK(m.path.type == path_match_type::prefix);
    CHECK(m.path.value == "/v1");
    CHECK(m.method == "GET");
    CHECK(m.headers.at(0).name == "x-env");
    CHECK(m.query_params.at(0).type == value_match_type::regex);
    REQUIRE(r.rules[0].backends.size() == 1);
    CHECK(r.rules[0].backends[0].weight == 3);
    REQUIRE(cfg.clusters.size() == 1);
    const auto& c = cfg.clusters[0];
    CHECK(c.name == r.rules[0].backends[0].cluster);
    REQUIRE(c.endpoints.size() == 2);  // the not-ready endpoint is left out
    CHECK(c.endpoints[0].address == "10.0.0.1");
    CHECK(c.endpoints[0].port == 9000);  // the EndpointSlice port of the Service port's name
    // A Service's selector does nothing here: accepted, with a warning naming it.
    bool warned = false;
    for (const auto& w : cfg.warnings)
      warned = warned || w.find("spec.selector") != std::string::npos;
    CHECK(warned);
  }

  TEST_CASE("an error names the document, the field path and the line") {
    std::string msg = load_error(with_route(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: broken
spec:
  parentRefs: [{name: web}]
  rules:
  - matches:
    - path: {type: Prefix, value: /v1}
    backendRefs: [{name: api, port: 80}]
)"));
    CHECK(msg.find("gw.yaml:45:") != std::string::npos);
    CHECK(msg.find("document 4 (HTTPRoute default/broken)") != std::string::npos);
    CHECK(msg.find("spec.rules[0].matches[0].path.type") != std::string::npos);
    CHECK(msg.find("'Prefix'") != std::string::npos);
  }

  TEST_CASE("unknown fields and kinds are errors, never ignored") {
    std::string msg = load_error(with_route(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: api, port: 80}]
    filters: [{type: RequestHeaderModifier}]
)"));
    CHECK(msg.find("spec.rules[0].filters") != std::string::npos);
    CHECK(msg.find("unknown or unsupported field") != std::string::npos);
    msg = load_error(base + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
    CHECK(msg.find("gw.yaml:38:") != std::string::npos);
    CHECK(msg.find("unsupported kind 'ConfigMap'") != std::string::npos);
  }

  TEST_CASE("references that do not resolve are errors") {
    // A route on Gateway `gateway` whose one rule sends to `backend`.
    auto route_to = [](const std::string& gateway, const std::string& backend) {
      return with_route(
          "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
          "metadata: {name: r}\nspec:\n  parentRefs: [{name: " +
          gateway + "}]\n  rules:\n  - backendRefs: [" + backend + "]\n");
    };
    CHECK(load_error(route_to("web", "{name: missing, port: 80}"))
              .find("Service default/missing not found") != std::string::npos);
    CHECK(load_error(route_to("web", "{name: api, port: 81}")).find("has no port 81") !=
          std::string::npos);
    CHECK(load_error(route_to("nope", "{name: api, port: 80}"))
              .find("Gateway default/nope not found") != std::string::npos);
    CHECK(load_error(route_to("web", "{name: api, port: 80}")).empty());
  }

  TEST_CASE("YAML syntax errors carry a line") {
    std::string msg = load_error("kind: Gateway\nspec: [unclosed\n");
    CHECK(msg.find("gw.yaml:") != std::string::npos);
  }

  TEST_CASE("routes attach to the listeners their parentRefs select, hostnames intersect") {
    auto cfg = load_yaml(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: c
  listeners:
  - {name: a, port: 80, protocol: HTTP, hostname: "*.example.com"}
  - {name: b, port: 81, protocol: HTTP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: only-b}
spec:
  parentRefs: [{name: gw, sectionName: b}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: both}
spec:
  parentRefs: [{name: gw}]
  hostnames: [shop.example.com, other.org]
)");
    REQUIRE(cfg.listeners.size() == 2);
    REQUIRE(cfg.listeners[0].routes.size() == 1);
    CHECK(cfg.listeners[0].routes[0].name == "both");
    CHECK(cfg.listeners[0].routes[0].hostnames == std::vector<std::string>{"shop.example.com"});
    REQUIRE(cfg.listeners[1].routes.size() == 2);
  }

  TEST_CASE("hostname intersection keeps the more specific name, drops disjoint ones") {
    auto cfg = load_yaml(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: c
  listeners:
  - {name: wild, port: 80, protocol: HTTP, hostname: "*.example.com"}
  - {name: deep, port: 81, protocol: HTTP, hostname: "*.a.example.com"}
  - {name: exact, port: 82, protocol: HTTP, hostname: "a.example.com"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  hostnames: ["*.a.example.com", "*.example.com", "example.com"]
)");
    REQUIRE(cfg.listeners.size() == 3);
    using names = std::vector<std::string>;
    REQUIRE(cfg.listeners[0].routes.size() == 1);
    CHECK(cfg.listeners[0].routes[0].hostnames == names{"*.a.example.com", "*.example.com"});
    REQUIRE(cfg.listeners[1].routes.size() == 1);
    CHECK(cfg.listeners[1].routes[0].hostnames == names{"*.a.example.com"});
    REQUIRE(cfg.listeners[2].routes.size() == 1);
    CHECK(cfg.listeners[2].routes[0].hostnames == names{"a.example.com"});
  }

  TEST_CASE("with GatewayClasses in the file only Gateways of our controller are served") {
    auto cfg = load_yaml(R"(apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: ours}
spec: {controllerName: gateway.dev/gatewayd}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: theirs}
spec: {controllerName: example.com/other}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: a}
spec:
  gatewayClassName: ours
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: b}
spec:
  gatewayClassName: theirs
  listeners: [{name: http, port: 80, protocol: HTTP}]
)");
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].name == "default/a/http");
  }

  TEST_CASE("unsupported protocols and durations are reported") {
    CHECK(load_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: a}
spec:
  gatewayClassName: c
  listeners: [{name: https, port: 443, protocol: HTTPS}]
)")
              .find("spec.listeners[0].protocol") != std::string::npos);
    CHECK(load_error(with_route(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: web}]
  rules:
  - timeouts: {request: 10 seconds}
)"))
              .find("invalid duration") != std::string::npos);
  }

  TEST_CASE("validate() catches what a config built in code gets wrong") {
    gateway_config cfg;
    listener_config l;
    l.name = "l";
    route r;
    r.name = "r";
    route_rule rule;
    rule.backends.push_back({"nowhere", 1});
    r.rules.push_back(rule);
    l.routes.push_back(r);
    cfg.listeners.push_back(l);
    cluster_config c;
    c.name = "c";
    c.endpoints.push_back({"not-an-ip", 80, 1});
    cfg.clusters.push_back(c);
    try {
      validate(cfg);
      FAIL("validate accepted a broken config");
    } catch (const error& e) {
      std::string msg = e.what();
      CHECK(msg.find("unknown cluster 'nowhere'") != std::string::npos);
      CHECK(msg.find("'not-an-ip' is not a numeric IP address") != std::string::npos);
    }
  }
}
