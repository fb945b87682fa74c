// BackendTrafficPolicy's upstream fields, read into clusters and rules.
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace gateway;

namespace {
const std::string base = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1, 10.0.0.2]}]
ports: [{name: http, port: 9000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  parentRefs: [{name: web}]
  rules:
  - name: main
    backendRefs: [{name: api, port: 80}]
  - name: other
    matches: [{path: {type: PathPrefix, value: /other}}]
    backendRefs: [{name: api, port: 80}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: resilient}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: api, sectionName: main}]
)";

std::string load_error(const std::string& text) {
  try {
    load_yaml(text, "gw.yaml");
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

const cluster_config& cluster_of(const gateway_config& cfg, std::size_t rule) {
  const std::string& name = cfg.listeners.at(0).routes.at(0).rules.at(rule).backends.at(0).cluster;
  for (const auto& c : cfg.clusters)
    if (c.name == name) return c;
  FAIL("no cluster " << name);
  return cfg.clusters.front();
}
}  // namespace

TEST_SUITE("upstream config") {
  TEST_CASE("appProtocol picks HTTP/2 and an unknown one is the route's UnsupportedProtocol") {
    auto with_protocol = [](const std::string& value) {
      std::string text = base;
      text.replace(text.find("{name: http, port: 80}"), 22,
                   "{name: http, port: 80, appProtocol: " + value + "}");
      return text;
    };
    CHECK(cluster_of(load_yaml(base, "gw.yaml"), 0).protocol == upstream_protocol::http1);
    CHECK(cluster_of(load_yaml(with_protocol("http"), "gw.yaml"), 0).protocol ==
          upstream_protocol::http1);
    const auto h2c = load_yaml(with_protocol("kubernetes.io/h2c"), "gw.yaml");
    CHECK(cluster_of(h2c, 0).protocol == upstream_protocol::http2);
    CHECK(to_json(h2c).find("\"protocol\":\"http2\"") != std::string::npos);

    // kubernetes.io/h2 is HTTP/2 over TLS: it needs a BackendTLSPolicy.
    const std::string h2 = with_protocol("kubernetes.io/h2");
    const auto no_tls = load_yaml(h2, "gw.yaml");
    CHECK(no_tls.listeners.at(0).routes.at(0).rules.at(0).backends.at(0).invalid.find(
              "no BackendTLSPolicy covers it") != std::string::npos);
    const auto over_tls = load_yaml(h2 + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: api-tls}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
  validation: {hostname: api.test, wellKnownCACertificates: System}
)",
                                    "gw.yaml");
    CHECK(cluster_of(over_tls, 0).protocol == upstream_protocol::http2);
    CHECK(cluster_of(over_tls, 0).tls.enabled);

    // WebSocket (issue 19) and names the gateway does not know: the route's
    // backend is unresolved, with the reason the Gateway API gives.
    for (const char* unknown : {"kubernetes.io/ws", "grpc", "example.com/custom"}) {
      CAPTURE(unknown);
      const auto cfg = load_yaml(with_protocol(unknown), "gw.yaml");
      const auto& b = cfg.listeners.at(0).routes.at(0).rules.at(0).backends.at(0);
      CHECK(b.cluster.empty());
      CHECK(b.invalid.find("appProtocol '" + std::string(unknown) + "'") != std::string::npos);
      REQUIRE(cfg.statuses.size() == 1);
      REQUIRE(cfg.statuses[0].conditions.size() == 2);
      CHECK(cfg.statuses[0].conditions[1].reason == "UnsupportedProtocol");
    }

    // An Envoy Gateway Backend says it with appProtocols.
    auto backend = [](const std::string& protocols) {
      return std::string(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 8080, protocol: HTTP}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: be}
spec:
  endpoints: [{ip: {address: 10.0.0.9, port: 9000}}]
  appProtocols: )") +
             protocols + R"(
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: be}]
)";
    };
    CHECK(cluster_of(load_yaml(backend("[gateway.envoyproxy.io/h2c]"), "gw.yaml"), 0).protocol ==
          upstream_protocol::http2);
    CHECK(load_error(backend("[gateway.envoyproxy.io/ws]")).find("WebSocket backends") !=
          std::string::npos);
    CHECK(load_error(backend("[h3]")).find("spec.appProtocols[0]") != std::string::npos);
  }

  TEST_CASE("BackendTrafficPolicy headers: the response head limits of its cluster") {
    const cluster_config defaults = cluster_of(load_yaml(base, "gw.yaml"), 0);
    CHECK(defaults.max_response_head == 64 * 1024);
    CHECK(defaults.max_response_header_count == 100);
    auto cfg = load_yaml(
        base + "  headers: {maxResponseHeadersKb: 16, maxResponseHeadersCount: 40}\n", "gw.yaml");
    CHECK(cluster_of(cfg, 0).max_response_head == 16 * 1024);
    CHECK(cluster_of(cfg, 0).max_response_header_count == 40);
    CHECK(cluster_of(cfg, 1).max_response_head == 64 * 1024);  // the other rule: not targeted
    CHECK(to_json(cfg).find("\"max_response_header_count\":40") != std::string::npos);
    CHECK(load_error(base + "  headers: {maxResponseHeadersKb: 0}\n")
              .find("spec.headers.maxResponseHeadersKb") != std::string::npos);
    CHECK(load_error(base + "  headers: {maxResponseHeaders: 10}\n")
              .find("spec.headers.maxResponseHeaders") != std::string::npos);
  }

  TEST_CASE("BackendTrafficPolicy connection.bufferLimit: what its cluster's links buffer") {
    CHECK(cluster_of(load_yaml(base, "gw.yaml"), 0).buffer_limit == 64 * 1024);
    auto cfg = load_yaml(base + "  connection: {bufferLimit: 1Mi}\n", "gw.yaml");
    CHECK(cluster_of(cfg, 0).buffer_limit == 1024 * 1024);
    CHECK(cluster_of(cfg, 1).buffer_limit == 64 * 1024);  // the other rule: not targeted
    CHECK(to_json(cfg).find("\"buffer_limit\":1048576") != std::string::npos);
    CHECK(load_yaml(base + "  connection: {bufferLimit: \"20000\"}\n", "gw.yaml").clusters.size() >
          0);
    CHECK(load_error(base + "  connection: {bufferLimit: 512}\n")
              .find("spec.connection.bufferLimit") != std::string::npos);
    CHECK(load_error(base + "  connection: {bufferLimit: 2Gi}\n")
              .find("not a byte quantity from 1024 to 1073741824") != std::string::npos);
    CHECK(
        load_error(base + "  connection: {preconnect: {}}\n").find("spec.connection.preconnect") !=
        std::string::npos);
  }

  TEST_CASE(
      "BackendTrafficPolicy connection.maxIdlePerEndpoint: idle connections each worker keeps") {
    CHECK(cluster_of(load_yaml(base, "gw.yaml"), 0).max_idle_per_endpoint == 1024);
    auto cfg = load_yaml(base + "  connection: {maxIdlePerEndpoint: 0}\n", "gw.yaml");
    CHECK(cluster_of(cfg, 0).max_idle_per_endpoint == 0);
    CHECK(cluster_of(cfg, 1).max_idle_per_endpoint == 1024);  // the other rule: not targeted
    CHECK(to_json(cfg).find("\"max_idle_per_endpoint\":0") != std::string::npos);
    CHECK(cluster_of(load_yaml(base + "  connection: {maxIdlePerEndpoint: 32, bufferLimit: 4Ki}\n",
                               "gw.yaml"),
                     0)
              .max_idle_per_endpoint == 32);
    CHECK(load_error(base + "  connection: {maxIdlePerEndpoint: -1}\n")
              .find("spec.connection.maxIdlePerEndpoint") != std::string::npos);
    CHECK(load_error(base + "  connection: {maxIdlePerEndpoint: 100000}\n")
              .find("spec.connection.maxIdlePerEndpoint") != std::string::npos);
  }

  TEST_CASE("BackendTrafficPolicy responseBody.maxSize: how long its cluster's bodies may be") {
    CHECK(cluster_of(load_yaml(base, "gw.yaml"), 0).max_response_body == 0);  // no limit
    auto cfg = load_yaml(base + "  responseBody: {maxSize: 10Mi}\n", "gw.yaml");
    CHECK(cluster_of(cfg, 0).max_response_body == 10u << 20);
    CHECK(cluster_of(cfg, 1).max_response_body == 0);
    CHECK(to_json(cfg).find("\"max_response_body\":10485760") != std::string::npos);
    CHECK(load_error(base + "  responseBody: {maxSize: 0}\n").find("spec.responseBody.maxSize") !=
          std::string::npos);
    CHECK(load_error(base + "  responseBody: {limit: 1Mi}\n").find("spec.responseBody.limit") !=
          std::string::npos);
  }

  TEST_CASE("a BackendTrafficPolicy gives its rule a cluster with its settings") {
    auto cfg = load_yaml(base + R"(  loadBalancer:
    type: ConsistentHash
    consistentHash: {type: Header, header: {name: X-User}, tableSize: 10007}
  healthCheck:
    panicThreshold: 30
    active:
      type: HTTP
      interval: 2s
      timeout: 500ms
      unhealthyThreshold: 4
      healthyThreshold: 2
      http: {path: /healthz, method: HEAD, expectedStatuses: [200, 204], expectedResponse: {type: Text, text: ok}}
    passive: {consecutive5XxErrors: 7, baseEjectionTime: 10s, maxEjectionPercent: 40}
  circuitBreaker:
    maxConnections: 10
    maxPendingRequests: 5
    maxParallelRequests: 20
    maxParallelRetries: 2
    maxRequestsPerConnection: 100
    perEndpoint: {maxConnections: 4}
    retryBudget: {percent: 25, minRetryConcurrency: 1}
  retry:
    numRetries: 3
    retryOn: {triggers: [connect-failure, 5xx], httpStatusCodes: [429]}
    perRetry: {timeout: 250ms, backOff: {baseInterval: 50ms, maxInterval: 1s}}
  timeout:
    tcp: {connectTimeout: 3s}
    http: {requestTimeout: 9s, connectionIdleTimeout: 20s}
)",
                         "gw.yaml");
    const cluster_config& c = cluster_of(cfg, 0);
    CHECK(c.name == "default/api:80@default/resilient");
    CHECK(c.endpoints.size() == 2);
    CHECK(c.load_balancer.policy == lb_policy::maglev);
    CHECK(c.load_balancer.hash.source == hash_source::header);
    CHECK(c.load_balancer.hash.name == "x-user");
    CHECK(c.load_balancer.table_size == 10007);
    CHECK(c.load_balancer.panic_threshold_percent == 30);
    CHECK(c.health_check.type == health_check_type::http);
    CHECK(c.health_check.interval == std::chrono::seconds(2));
    CHECK(c.health_check.timeout == std::chrono::milliseconds(500));
    CHECK(c.health_check.unhealthy_threshold == 4);
    CHECK(c.health_check.healthy_threshold == 2);
    CHECK(c.health_check.method == "HEAD");
    CHECK(c.health_check.path == "/healthz");
    CHECK(c.health_check.expected_statuses.size() == 2);
    CHECK(c.health_check.expected_body == "ok");
    CHECK(c.outlier_detection.consecutive_5xx == 7);
    CHECK(c.outlier_detection.base_ejection_time == std::chrono::seconds(10));
    CHECK(c.outlier_detection.max_ejection_percent == 40);
    CHECK(c.circuit_breakers.max_connections == 10);
    CHECK(c.circuit_breakers.max_pending_requests == 5);
    CHECK(c.circuit_breakers.max_requests == 20);
    CHECK(c.circuit_breakers.max_retries == 2);
    CHECK(c.circuit_breakers.max_connections_per_endpoint == 4);
    CHECK(c.circuit_breakers.retry_budget_percent == 25);
    CHECK(c.circuit_breakers.retry_budget_min_concurrency == 1);
    CHECK(c.max_requests_per_connection == 100);
    CHECK(c.connect_timeout == std::chrono::seconds(3));
    CHECK(c.idle_timeout == std::chrono::seconds(20));
    const route_rule& rule = cfg.listeners[0].routes[0].rules[0];
    REQUIRE(rule.retry);
    CHECK(rule.retry->attempts == 3);
    CHECK(rule.retry->retry_on.connect_failure);
    CHECK(rule.retry->retry_on.server_error);
    CHECK(!rule.retry->retry_on.reset);
    CHECK(!rule.retry->retry_on.status_codes);
    CHECK(rule.retry->codes == std::vector<int>{429});
    CHECK(rule.retry->per_try_timeout == std::chrono::milliseconds(250));
    CHECK(rule.retry->backoff == std::chrono::milliseconds(50));
    CHECK(rule.retry->max_backoff == std::chrono::seconds(1));
    CHECK(rule.request_timeout == std::chrono::seconds(9));
    // The other rule is not targeted: the Service's plain cluster, no retry.
    const cluster_config& plain = cluster_of(cfg, 1);
    CHECK(plain.name == "default/api:80");
    CHECK(plain.load_balancer.policy == lb_policy::round_robin);
    CHECK(!cfg.listeners[0].routes[0].rules[1].retry);
    CHECK(cfg.clusters.size() == 2);
  }

  TEST_CASE("retry alone keeps the Service's plain cluster, with Envoy Gateway's defaults") {
    auto cfg = load_yaml(base + "  retry: {}\n", "gw.yaml");
    CHECK(cluster_of(cfg, 0).name == "default/api:80");
    CHECK(cfg.clusters.size() == 1);  // no unused cluster is left behind
    const auto& r = *cfg.listeners[0].routes[0].rules[0].retry;
    CHECK(r.attempts == 2);
    CHECK(r.retry_on.connect_failure);
    CHECK(r.retry_on.status_codes);
    CHECK(r.codes == std::vector<int>{503});
    CHECK(r.buffer_limit == 65536);
  }

  TEST_CASE("a ring hash on a generated cookie, slow start and a TCP check") {
    auto cfg = load_yaml(base + R"(  loadBalancer:
    type: ConsistentHash
    consistentHash: {type: Cookie, algorithm: RingHash, cookie: {name: s, ttl: 1h, attributes: {path: /app}}}
  healthCheck:
    active: {type: TCP, tcp: {send: {type: Text, text: PING}, receive: {type: Binary, binary: UE9ORw==}}}
)",
                         "gw.yaml");
    const cluster_config& c = cluster_of(cfg, 0);
    CHECK(c.load_balancer.policy == lb_policy::ring_hash);
    CHECK(c.load_balancer.hash.source == hash_source::cookie);
    CHECK(c.load_balancer.hash.cookie_ttl == std::chrono::hours(1));
    CHECK(c.load_balancer.hash.cookie_path == "/app");
    CHECK(c.health_check.type == health_check_type::tcp);
    CHECK(c.health_check.send == "PING");
    CHECK(c.health_check.receive == "PONG");
    auto slow = load_yaml(base + "  loadBalancer: {type: LeastRequest, slowStart: {window: 30s}}\n",
                          "gw.yaml");
    CHECK(cluster_of(slow, 0).load_balancer.policy == lb_policy::least_request);
    CHECK(cluster_of(slow, 0).load_balancer.slow_start == std::chrono::seconds(30));
  }

  TEST_CASE("broken upstream settings are errors that name the field") {
    CHECK(load_error(base + "  loadBalancer: {type: ConsistentHash}\n")
              .find("spec.loadBalancer.consistentHash: required when type is ConsistentHash") !=
          std::string::npos);
    CHECK(load_error(base + "  loadBalancer: {type: Fastest}\n").find("spec.loadBalancer.type") !=
          std::string::npos);
    CHECK(load_error(base + "  loadBalancer: {type: ConsistentHash, consistentHash: {type: "
                            "SourceIP, tableSize: 1000}}\n")
              .find("maglev table size 1000 must be a prime") != std::string::npos);
    CHECK(load_error(base + "  retry: {retryOn: {triggers: [sometimes]}}\n")
              .find("unknown retry trigger 'sometimes'") != std::string::npos);
    CHECK(load_error(base + "  retry: {perRetry: {backOff: {baseInterval: 2s, maxInterval: 1s}}}\n")
              .find("must not be shorter than baseInterval") != std::string::npos);
    CHECK(load_error(base + "  healthCheck: {active: {type: HTTP}}\n")
              .find("spec.healthCheck.active.http: required when type is HTTP") !=
          std::string::npos);
    CHECK(load_error(base + "  healthCheck: {active: {type: HTTP, http: {path: health}}}\n")
              .find("must start with /") != std::string::npos);
    CHECK(load_error(base + "  circuitBreaker: {maxConnections: 0}\n")
              .find("spec.circuitBreaker.maxConnections") != std::string::npos);
    CHECK(load_error(base + "  circuitBreaker: {maxConection: 5}\n").find("maxConection") !=
          std::string::npos);
    CHECK(load_error(base + "  timeout: {http: {maxConnectionDuration: 1h}}\n")
              .find("not supported yet") != std::string::npos);
  }
}
