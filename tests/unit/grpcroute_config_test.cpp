// GRPCRoute documents: what they load into, what is refused, and how they
// share listeners with HTTPRoutes.
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace gateway;

namespace {

const std::string base = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: http, port: 8080, protocol: HTTP}
  - name: http-only
    port: 8081
    protocol: HTTP
    allowedRoutes: {kinds: [{kind: HTTPRoute}]}
---
apiVersion: v1
kind: Service
metadata: {name: greeter}
spec:
  ports: [{name: grpc, port: 50051}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: greeter-1
  labels: {kubernetes.io/service-name: greeter}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: grpc, port: 50051}]
)";

std::string load_error(const std::string& text) {
  try {
    load_yaml(text, "gw.yaml");
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

const route_status* status_of(const gateway_config& c, std::string_view kind,
                              std::string_view route, std::string_view parent) {
  for (const route_status& s : c.statuses)
    if (s.kind == kind && s.route == route && s.parent == parent) return &s;
  return nullptr;
}

// A route of `kind` (HTTPRoute, GRPCRoute) on listener "http" sending to greeter.
std::string route_of(const std::string& kind, const std::string& name, const std::string& hostnames,
                     const std::string& extra) {
  return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: " + kind +
         "\nmetadata: {name: " + name + extra +
         "}\nspec:\n  parentRefs: [{name: web, sectionName: http}]\n  hostnames: " + hostnames +
         "\n  rules:\n  - backendRefs: [{name: greeter, port: 50051}]\n";
}

std::string grpc_route(const std::string& name, const std::string& hostnames,
                       const std::string& extra = "") {
  return route_of("GRPCRoute", name, hostnames, extra);
}

std::string http_route(const std::string& name, const std::string& hostnames,
                       const std::string& extra = "") {
  return route_of("HTTPRoute", name, hostnames, extra);
}

}  // namespace

TEST_SUITE("config grpcroute") {
  TEST_CASE("GRPCRoute matches, filters and weighted backends load and its backends speak HTTP/2") {
    const auto cfg = load_yaml(base + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter}
spec:
  parentRefs: [{name: web}]
  hostnames: [grpc.example.com]
  rules:
  - matches:
    - method: {service: helloworld.Greeter, method: SayHello}
      headers: [{name: x-tenant, value: a}]
    - method: {type: RegularExpression, service: "shop\\..*"}
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-via, value: grpc}]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {remove: [x-internal]}
    backendRefs:
    - {name: greeter, port: 50051, weight: 3}
    - {name: greeter, port: 50051, weight: 1}
)",
                               "gw.yaml");
    const listener_config& l = cfg.listeners.at(0);
    REQUIRE(l.routes.size() == 1);
    const route& r = l.routes[0];
    CHECK(r.kind == route_kind::grpc);
    CHECK(r.hostnames == std::vector<std::string>{"grpc.example.com"});
    const route_rule& rule = r.rules.at(0);
    REQUIRE(rule.matches.size() == 2);
    REQUIRE(rule.matches[0].grpc);
    CHECK(rule.matches[0].grpc->type == value_match_type::exact);
    CHECK(rule.matches[0].grpc->service == "helloworld.Greeter");
    CHECK(rule.matches[0].grpc->method == "SayHello");
    CHECK(rule.matches[0].headers.at(0).name == "x-tenant");
    CHECK(rule.matches[1].grpc->type == value_match_type::regex);
    CHECK(rule.matches[1].grpc->method.empty());
    CHECK(rule.request_headers.set.at(0).name == "x-via");
    CHECK(rule.response_headers.remove.at(0) == "x-internal");
    REQUIRE(rule.backends.size() == 2);
    CHECK(rule.backends[0].weight == 3);
    // The Service port says nothing of its protocol: a gRPC route's backend is h2c.
    const auto cl =
        std::find_if(cfg.clusters.begin(), cfg.clusters.end(),
                     [&](const cluster_config& c) { return c.name == rule.backends[0].cluster; });
    REQUIRE(cl != cfg.clusters.end());
    CHECK(cl->protocol == upstream_protocol::http2);
    const route_status* st = status_of(cfg, "GRPCRoute", "default/greeter", "default/web");
    REQUIRE(st);
    CHECK(st->conditions.at(0).status);
    // allowedRoutes.kinds of the second listener leaves GRPCRoutes out.
    CHECK(cfg.listeners.at(1).routes.empty());
  }

  TEST_CASE("a GRPCRoute that a listener's allowedRoutes.kinds leaves out is not accepted") {
    const auto cfg = load_yaml(base + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g}
spec:
  parentRefs: [{name: web, sectionName: http-only}]
  rules: [{backendRefs: [{name: greeter, port: 50051}]}]
)",
                               "gw.yaml");
    const route_status* st = status_of(cfg, "GRPCRoute", "default/g", "default/web/http-only");
    REQUIRE(st);
    CHECK_FALSE(st->conditions.at(0).status);
    CHECK(st->conditions.at(0).reason == "NotAllowedByListeners");
    CHECK(st->conditions.at(0).message.find("kinds") != std::string::npos);
  }

  TEST_CASE("GRPCRoute mistakes are errors with their field path") {
    auto with_rule = [](const std::string& rule) {
      return base +
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: "
             "g}\nspec:\n  parentRefs: [{name: web}]\n  rules:\n  - " +
             rule + "\n";
    };
    CHECK(load_error(with_rule("matches: [{method: {type: Exact}}]"))
              .find("spec.rules[0].matches[0].method: at least one of service and method") !=
          std::string::npos);
    CHECK(load_error(with_rule("matches: [{method: {service: a/b}}]"))
              .find("spec.rules[0].matches[0].method.service: an Exact match must not contain "
                    "'/'") != std::string::npos);
    CHECK(load_error(with_rule("matches: [{method: {type: RegularExpression, service: \"(\"}}]"))
              .find("invalid regular expression") != std::string::npos);
    CHECK(load_error(with_rule("matches: [{path: {value: /x}}]")).find("matches[0].path") !=
          std::string::npos);
    CHECK(load_error(with_rule("filters: [{type: URLRewrite, urlRewrite: {hostname: x}}]"))
              .find("spec.rules[0].filters[0].type") != std::string::npos);
    CHECK(load_error(with_rule("timeouts: {request: 1s}")).find("spec.rules[0].timeouts") !=
          std::string::npos);
  }

  TEST_CASE("an HTTPRoute and a GRPCRoute sharing a hostname: the older keeps the listener") {
    // The HTTPRoute is older: the GRPCRoute that meets it on *.example.com is refused.
    auto cfg = load_yaml(base +
                             http_route("web-api", "[api.example.com]",
                                        ", creationTimestamp: \"2026-01-01T00:00:00Z\"") +
                             grpc_route("grpc-wild", "[\"*.example.com\"]",
                                        ", creationTimestamp: \"2026-02-01T00:00:00Z\"") +
                             grpc_route("grpc-other", "[grpc.example.org]",
                                        ", creationTimestamp: \"2026-03-01T00:00:00Z\""),
                         "gw.yaml");
    const auto& routes = cfg.listeners.at(0).routes;
    auto attached = [&](std::string_view name) {
      return std::any_of(routes.begin(), routes.end(),
                         [&](const route& r) { return r.name == name; });
    };
    CHECK(attached("web-api"));
    CHECK_FALSE(attached("grpc-wild"));
    CHECK(attached("grpc-other"));
    const route_status* st = status_of(cfg, "GRPCRoute", "default/grpc-wild", "default/web/http");
    REQUIRE(st);
    CHECK_FALSE(st->conditions.at(0).status);
    CHECK(st->conditions.at(0).reason == "Conflicted");
    CHECK(std::any_of(cfg.warnings.begin(), cfg.warnings.end(), [](const std::string& w) {
      return w.find("HTTPRoute default/web-api") != std::string::npos;
    }));
    // The other way round: the older GRPCRoute wins against an HTTPRoute for any host.
    cfg = load_yaml(
        base +
            grpc_route("grpc", "[grpc.example.com]",
                       ", creationTimestamp: \"2026-01-01T00:00:00Z\"") +
            http_route("catch-all", "[]", ", creationTimestamp: \"2026-02-01T00:00:00Z\""),
        "gw.yaml");
    REQUIRE(cfg.listeners.at(0).routes.size() == 1);
    CHECK(cfg.listeners.at(0).routes[0].name == "grpc");
  }
}

TEST_SUITE("config grpc health check") {
  TEST_CASE("healthCheck.active type GRPC loads and needs an HTTP/2 cluster") {
    auto policy = [](const std::string& kind, const std::string& active) {
      return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: BackendTrafficPolicy\n"
             "metadata: {name: hc}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
             "kind: " +
             kind + ", name: r}]\n  healthCheck:\n    active: " + active + "\n";
    };
    auto route = [](const std::string& kind) {
      return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: " + kind +
             "\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: web, sectionName: http}]\n"
             "  rules: [{backendRefs: [{name: greeter, port: 50051}]}]\n";
    };
    const auto cfg = load_yaml(
        base + route("GRPCRoute") + policy("GRPCRoute", "{type: GRPC, grpc: {service: a.B}}"),
        "gw.yaml");
    const auto cl =
        std::find_if(cfg.clusters.begin(), cfg.clusters.end(),
                     [](const cluster_config& c) { return c.name.ends_with("@default/hc"); });
    REQUIRE(cl != cfg.clusters.end());
    CHECK(cl->health_check.type == health_check_type::grpc);
    CHECK(cl->health_check.grpc_service == "a.B");
    CHECK(load_error(base + route("GRPCRoute") +
                     policy("GRPCRoute", "{type: HTTP, http: {path: /}, grpc: {}}"))
              .find("healthCheck.active.grpc: only used when type is GRPC") != std::string::npos);
    // The same check on an HTTPRoute's HTTP/1.1 backend cannot work.
    CHECK(load_error(base + route("HTTPRoute") + policy("HTTPRoute", "{type: GRPC}"))
              .find("a gRPC health check needs a cluster that speaks HTTP/2") != std::string::npos);
  }
}
