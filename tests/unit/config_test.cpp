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
  TEST_CASE("ClientTrafficPolicy http2: what clients are told, in quantities") {
    auto policy = [](const std::string& http2) {
      return base +
             "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
             "metadata: {name: c}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
             "kind: Gateway, name: web}]\n  http2: " +
             http2 + "\n";
    };
    const listener_http2_config defaults = load_yaml(base, "gw.yaml").listeners.at(0).http2;
    CHECK(defaults.max_concurrent_streams == 100);
    CHECK(defaults.initial_stream_window == 65535);
    CHECK(defaults.initial_connection_window == 1u << 20);
    auto cfg = load_yaml(policy("{maxConcurrentStreams: 250, initialStreamWindowSize: 256Ki, "
                                "initialConnectionWindowSize: 16Mi}"),
                         "gw.yaml");
    const listener_http2_config& h = cfg.listeners.at(0).http2;
    CHECK(h.max_concurrent_streams == 250);
    CHECK(h.initial_stream_window == 256 * 1024);
    CHECK(h.initial_connection_window == 16 * 1024 * 1024);
    CHECK(to_json(cfg).find("\"initial_stream_window\":262144") != std::string::npos);
    // Plain numbers and decimal units; what is left out keeps its default.
    cfg = load_yaml(policy("{initialStreamWindowSize: 100000, initialConnectionWindowSize: 2M}"),
                    "gw.yaml");
    CHECK(cfg.listeners.at(0).http2.initial_stream_window == 100000);
    CHECK(cfg.listeners.at(0).http2.initial_connection_window == 2000000);
    CHECK(cfg.listeners.at(0).http2.max_concurrent_streams == 100);

    for (const auto& row : std::vector<std::pair<std::string, std::string>>{
             {"{initialStreamWindowSize: 1Ki}", "spec.http2.initialStreamWindowSize"},
             {"{initialStreamWindowSize: 2Gi}", "from 65535 to 2147483647"},
             {"{initialConnectionWindowSize: 64KB}", "spec.http2.initialConnectionWindowSize"},
             {"{initialConnectionWindowSize: lots}", "not a byte quantity"},
             {"{maxConcurrentStreams: 0}", "spec.http2.maxConcurrentStreams"},
             {"{onInvalidMessage: TerminateConnection}", "TerminateStream"},
             {"{maxFrameSize: 1}", "maxFrameSize"},
         }) {
      const std::string& bad = row.first;
      const std::string& says = row.second;
      CAPTURE(bad);
      CHECK(load_error(policy(bad)).find(says) != std::string::npos);
    }
  }

  TEST_CASE("ClientTrafficPolicy connection, timeout and headers: the listener's limits") {
    auto policy = [](const std::string& spec) {
      return base +
             "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
             "metadata: {name: c}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
             "kind: Gateway, name: web}]\n" +
             spec;
    };
    const listener_limits defaults = load_yaml(base, "gw.yaml").listeners.at(0).limits;
    CHECK(defaults.max_connections == 0);
    CHECK(defaults.header_timeout == std::chrono::seconds(10));
    auto cfg =
        load_yaml(policy("  connection: {connectionLimit: {value: 500, closeDelay: 1s}, "
                         "bufferLimit: 32Ki}\n"
                         "  timeout:\n"
                         "    http: {idleTimeout: 30s, streamIdleTimeout: 2m, "
                         "requestHeadersTimeout: 5s, requestReceivedTimeout: 90s}\n"
                         "    tcp: {idleTimeout: 10m}\n"
                         "  headers: {maxRequestHeadersKb: 32, maxRequestHeadersCount: 50}\n"),
                  "gw.yaml");
    const listener_limits& l = cfg.listeners.at(0).limits;
    CHECK(l.max_connections == 500);
    CHECK(l.connection_close_delay == std::chrono::seconds(1));
    CHECK(l.buffer_limit == 32 * 1024);
    CHECK(defaults.buffer_limit == 64 * 1024);
    CHECK(l.idle_timeout == std::chrono::seconds(30));
    CHECK(l.stream_idle_timeout == std::chrono::minutes(2));  // HTTP: streamIdleTimeout, not tcp's
    CHECK(l.header_timeout == std::chrono::seconds(5));
    CHECK(l.request_received_timeout == std::chrono::seconds(90));
    CHECK(defaults.request_received_timeout.count() == 0);  // none unless set, as Envoy
    CHECK(l.max_request_head == 32 * 1024);
    CHECK(l.max_request_line == 8 * 1024);
    CHECK(l.max_header_count == 50);
    CHECK(to_json(cfg).find("\"max_connections\":500") != std::string::npos);
    // A head limit under the request line's default bounds the line too.
    CHECK(load_yaml(policy("  headers: {maxRequestHeadersKb: 4}\n"), "gw.yaml")
              .listeners.at(0)
              .limits.max_request_line == 4 * 1024);
    // What is left out keeps its default.
    CHECK(load_yaml(policy("  timeout: {http: {idleTimeout: 5s}}\n"), "gw.yaml")
              .listeners.at(0)
              .limits.stream_idle_timeout == std::chrono::seconds(60));

    for (const auto& row : std::vector<std::pair<std::string, std::string>>{
             {"  connection: {connectionLimit: {value: 0}}\n",
              "spec.connection.connectionLimit.value"},
             {"  connection: {connectionLimit: {closeDelay: 1s}}\n", "value"},
             {"  connection: {bufferLimit: 1Ki5}\n", "spec.connection.bufferLimit"},
             {"  connection: {bufferLimit: 100}\n", "from 1024 to"},
             {"  timeout: {http: {idleTimeout: 0s}}\n", "must be > 0"},
             {"  timeout: {http: {requestReceivedTimeout: 0s}}\n",
              "spec.timeout.http.requestReceivedTimeout"},
             {"  timeout: {tcp: {idleTimeout: soon}}\n", "spec.timeout.tcp.idleTimeout"},
             {"  headers: {maxRequestHeadersKb: 9000}\n", "spec.headers.maxRequestHeadersKb"},
             {"  headers: {maxRequestHeadersCount: 0}\n", "spec.headers.maxRequestHeadersCount"},
         }) {
      const std::string& bad = row.first;
      const std::string& says = row.second;
      CAPTURE(bad);
      CHECK(load_error(policy(bad)).find(says) != std::string::npos);
    }
  }

  TEST_CASE("ClientTrafficPolicy tracing: sampling, the collector, and its mistakes") {
    auto policy = [](const std::string& spec) {
      return base +
             "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
             "metadata: {name: c}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
             "kind: Gateway, name: web}]\n  tracing: " +
             spec + "\n";
    };
    CHECK_FALSE(load_yaml(base, "gw.yaml").listeners.at(0).tracing);
    auto cfg = load_yaml(policy("{samplingRate: 25, serviceName: edge, flushInterval: 250ms, "
                                "provider: {type: OpenTelemetry, host: otel.monitoring, port: "
                                "4319, path: /otlp/v1/traces}}"),
                         "gw.yaml");
    REQUIRE(cfg.listeners.at(0).tracing);
    const tracing_config& t = *cfg.listeners.at(0).tracing;
    CHECK(t.sampling_numerator == 25);
    CHECK(t.sampling_denominator == 100);
    CHECK(t.collector == "http://otel.monitoring:4319/otlp/v1/traces");
    CHECK(t.service_name == "edge");
    CHECK(t.flush_interval == std::chrono::milliseconds(250));
    CHECK(to_json(cfg).find("\"collector\":\"http://otel.monitoring:4319/otlp/v1/traces\"") !=
          std::string::npos);
    const tracing_config d =
        *load_yaml(policy("{samplingFraction: {numerator: 1, denominator: 1000}, provider: "
                          "{type: OpenTelemetry, host: '::1', tls: true}}"),
                   "gw.yaml")
             .listeners.at(0)
             .tracing;
    CHECK(d.sampling_numerator == 1);
    CHECK(d.sampling_denominator == 1000);
    CHECK(d.collector == "https://[::1]:4318/v1/traces");
    CHECK(d.service_name == "gateway");

    for (const auto& row : std::vector<std::pair<std::string, std::string>>{
             {"{samplingRate: 10}", "spec.tracing: provider: required field is missing"},
             {"{samplingRate: 101, provider: {host: h}}", "spec.tracing.samplingRate"},
             {"{samplingRate: 1, samplingFraction: {numerator: 1}, provider: {host: h}}",
              "not both"},
             {"{samplingFraction: {numerator: 5, denominator: 2}, provider: {host: h}}",
              "numerator is larger than denominator"},
             {"{provider: {type: Zipkin, host: h}}", "spec.tracing.provider.type"},
             {"{provider: {port: 4318}}", "spec.tracing.provider.host"},
             {"{provider: {host: h, path: v1}}", "must start with '/'"},
             {"{provider: {host: h}, flushInterval: 1ms}", "at least 10ms"},
             {"{provider: {host: h}, customTags: {}}", "spec.tracing.customTags"},
         }) {
      const std::string& bad = row.first;
      const std::string& says = row.second;
      CAPTURE(bad);
      CHECK(load_error(policy(bad)).find(says) != std::string::npos);
    }
  }

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

  TEST_CASE("strict mode refuses a config with warnings, such as an unresolved backendRef") {
    const std::string yaml = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: gone, port: 80}]
)";
    const gateway::gateway_config cfg = gateway::load_yaml(yaml, "t.yaml");  // loads: a warning
    REQUIRE(!cfg.warnings.empty());
    CHECK_THROWS_WITH_AS(gateway::require_no_warnings(cfg),
                         doctest::Contains("Service default/gone"), gateway::error);
    gateway::gateway_config clean;
    CHECK_NOTHROW(gateway::require_no_warnings(clean));
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

  TEST_CASE("a class without its spec is an error, not an exception of the YAML library") {
    // fuzz_yaml_config found it: a missing key of a const node is a node
    // that throws YAML::InvalidNode when asked its type.
    for (const char* doc : {"apiVersion: networking.k8s.io/v1\nkind: IngressClass\n"
                            "metadata: {name: x}\n",
                            "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
                            "metadata: {name: x}\n"}) {
      CAPTURE(doc);
      const std::string msg = load_error(doc);
      CHECK(msg.find("spec: required field is missing") != std::string::npos);
    }
  }

  TEST_CASE("a document yaml-cpp cannot start is an error, not a loop that eats memory") {
    // yaml-cpp 0.7's LoadAll loops forever on "," (its issue 1040; the
    // fuzzer found it): each document is loaded on its own.
    for (const char* doc : {",", ",x", "---\n,\n", "~\n"}) {
      CAPTURE(doc);
      CHECK(load_error(doc).find("expected a mapping") != std::string::npos);
    }
    // Documents end at "---" and "...", and errors keep the stream's lines.
    const std::string msg = load_error(
        "# header\n---\n# nothing\n...\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n"
        "spec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: Nothing\n");
    CHECK(msg.find("gw.yaml:11:") != std::string::npos);
    CHECK(msg.find("document 3") != std::string::npos);
  }

  TEST_CASE("unknown fields and kinds are errors, never ignored") {
    std::string msg = load_error(with_route(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: api, port: 80}]
    filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [], replace: []}}]
)"));
    CHECK(msg.find("spec.rules[0].filters[0].requestHeaderModifier.replace") != std::string::npos);
    CHECK(msg.find("unknown or unsupported field") != std::string::npos);
    msg = load_error(base + "---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: x}\n");
    CHECK(msg.find("gw.yaml:38:") != std::string::npos);
    CHECK(msg.find("unsupported kind 'PersistentVolume'") != std::string::npos);
  }

  TEST_CASE(
      "a backend that does not resolve gets 500 and a status; a missing Gateway is an error") {
    // A route on Gateway `gateway` whose one rule sends to `backend`.
    auto route_to = [](const std::string& gateway, const std::string& backend) {
      return with_route(
          "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
          "metadata: {name: r}\nspec:\n  parentRefs: [{name: " +
          gateway + "}]\n  rules:\n  - backendRefs: [" + backend + ", {name: api, port: 80}]\n");
    };
    struct row {
      const char* backend;
      const char* reason;
      const char* message;
    };
    const row rows[] = {
        {"{name: missing, port: 80}", "BackendNotFound", "Service default/missing not found"},
        {"{name: api, port: 81}", "BackendNotFound", "has no port 81"},
        {"{kind: Pod, name: api, port: 80}", "InvalidKind", "kind 'Pod'"},
        {"{name: api, namespace: other, port: 80}", "RefNotPermitted", "no ReferenceGrant"},
    };
    for (const auto& r : rows) {
      CAPTURE(r.backend);
      auto cfg = load_yaml(route_to("web", r.backend), "gw.yaml");
      const auto& backends = cfg.listeners.at(0).routes.at(0).rules.at(0).backends;
      REQUIRE(backends.size() == 2);
      CHECK(backends[0].cluster.empty());
      CHECK(backends[0].invalid.find(r.message) != std::string::npos);
      CHECK(backends[1].cluster == "default/api:80");  // the valid one keeps working
      REQUIRE(cfg.statuses.size() == 1);
      const auto& st = cfg.statuses[0];
      CHECK(st.route == "default/r");
      CHECK(st.parent == "default/web");
      REQUIRE(st.conditions.size() == 2);
      CHECK(st.conditions[0].type == "Accepted");
      CHECK(st.conditions[0].status);
      CHECK(st.conditions[1].type == "ResolvedRefs");
      CHECK(!st.conditions[1].status);
      CHECK(st.conditions[1].reason == r.reason);
      bool warned = false;
      for (const auto& w : cfg.warnings)
        warned = warned || (w.find(r.message) != std::string::npos &&
                            w.find("spec.rules[0].backendRefs[0]") != std::string::npos);
      CHECK(warned);
    }
    CHECK(load_error(route_to("nope", "{name: api, port: 80}"))
              .find("Gateway default/nope not found") != std::string::npos);
  }

  TEST_CASE("a ReferenceGrant allows a cross-namespace backend") {
    const std::string other = R"(---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: other}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db
  namespace: other
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
endpoints: [{addresses: [10.1.0.1]}]
ports: [{name: http, port: 7000}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{name: db, namespace: other, port: 80}]
)";
    auto grant = [](const std::string& from_ns, const std::string& to_name) {
      return "---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"
             "metadata: {name: g, namespace: other}\nspec:\n"
             "  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: " +
             from_ns + "}]\n  to: [{group: \"\", kind: Service" +
             (to_name.empty() ? "" : ", name: " + to_name) + "}]\n";
    };
    auto backend = [](const gateway_config& cfg) {
      return cfg.listeners.at(0).routes.at(0).rules.at(0).backends.at(0);
    };
    CHECK(backend(load_yaml(base + other + grant("default", ""))).cluster == "other/db:80");
    CHECK(backend(load_yaml(base + other + grant("default", "db"))).cluster == "other/db:80");
    CHECK(backend(load_yaml(base + other + grant("default", "cache"))).cluster.empty());
    CHECK(backend(load_yaml(base + other + grant("elsewhere", ""))).cluster.empty());
    CHECK(backend(load_yaml(base + other)).invalid.find("no ReferenceGrant") != std::string::npos);
  }

  TEST_CASE("allowedRoutes: From Selector matches namespace labels") {
    auto config = [](const std::string& selector) {
      return R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: infra}
spec:
  gatewayClassName: any
  listeners:
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes:
      namespaces:
        from: Selector
        selector: )" +
             selector + R"(
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: blue, env: prod}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{name: web, namespace: infra}]
)";
    };
    auto attached = [](const gateway_config& cfg) { return cfg.listeners.at(0).routes.size(); };
    CHECK(attached(load_yaml(config("{matchLabels: {team: blue}}"))) == 1);
    CHECK(attached(load_yaml(config("{matchLabels: {team: red}}"))) == 0);
    CHECK(attached(load_yaml(
              config("{matchExpressions: [{key: env, operator: In, values: [prod, qa]}]}"))) == 1);
    CHECK(attached(load_yaml(config("{matchExpressions: [{key: env, operator: DoesNotExist}]}"))) ==
          0);
    CHECK(attached(load_yaml(config("{matchLabels: {kubernetes.io/metadata.name: shop}}"))) == 1);
    auto cfg = load_yaml(config("{matchLabels: {team: red}}"));
    REQUIRE(cfg.statuses.size() == 1);
    CHECK(cfg.statuses[0].conditions[0].reason == "NotAllowedByListeners");
    CHECK(load_error(config("{matchExpressions: [{key: env, operator: In}]}"))
              .find("In and NotIn need values") != std::string::npos);
  }

  TEST_CASE("HTTPRoute filters load into the rule") {
    auto cfg = load_yaml(with_route(R"(apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: https
        hostname: New.Example.com
        port: 8443
        statusCode: 301
        path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}
  - matches: [{path: {type: PathPrefix, value: /api}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: x-a, value: "1"}]
        add: [{name: x-b, value: "2"}]
        remove: [x-c]
    - type: ResponseHeaderModifier
      responseHeaderModifier: {remove: [server]}
    - type: URLRewrite
      urlRewrite: {hostname: internal, path: {type: ReplaceFullPath, replaceFullPath: /v2}}
    - type: RequestMirror
      requestMirror: {backendRef: {name: api, port: 80}, percent: 25}
    backendRefs: [{name: api, port: 80}]
)"));
    const auto& rules = cfg.listeners.at(0).routes.at(0).rules;
    REQUIRE(rules.size() == 2);
    REQUIRE(rules[0].redirect);
    CHECK(rules[0].redirect->scheme == "https");
    CHECK(rules[0].redirect->hostname == "new.example.com");
    CHECK(rules[0].redirect->port == 8443);
    CHECK(rules[0].redirect->status_code == 301);
    CHECK(rules[0].redirect->path.type == path_rewrite_type::prefix_match);
    CHECK(rules[0].redirect->path.value == "/new");
    CHECK(rules[1].request_headers.set.at(0).name == "x-a");
    CHECK(rules[1].request_headers.add.at(0).value == "2");
    CHECK(rules[1].request_headers.remove.at(0) == "x-c");
    CHECK(rules[1].response_headers.remove.at(0) == "server");
    REQUIRE(rules[1].rewrite);
    CHECK(rules[1].rewrite->hostname == "internal");
    CHECK(rules[1].rewrite->path.value == "/v2");
    REQUIRE(rules[1].mirrors.size() == 1);
    CHECK(rules[1].mirrors[0].cluster == "default/api:80");
    CHECK(rules[1].mirrors[0].numerator == 25);
    CHECK(rules[1].mirrors[0].denominator == 100);
  }

  TEST_CASE("rule retry and CORS load, a bad retried status is an error") {
    auto route = [](const std::string& rule) {
      return with_route(
          "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
          "spec:\n  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: api, port: "
          "80}]\n" +
          rule);
    };
    auto cfg =
        load_yaml(route("    retry: {codes: [502, 503], attempts: 3, backoff: 200ms}\n"
                        "    filters: [{type: CORS, cors: {allowOrigins: ['*'], maxAge: "
                        "60}}]\n"));
    const auto& rule = cfg.listeners.at(0).routes.at(0).rules.at(0);
    REQUIRE(rule.retry);
    CHECK(rule.retry->codes == std::vector<int>{502, 503});
    CHECK(rule.retry->attempts == 3);
    CHECK(rule.retry->backoff == std::chrono::milliseconds(200));
    REQUIRE(rule.cors);
    CHECK(rule.cors->allow_origins == std::vector<std::string>{"*"});
    CHECK(rule.cors->max_age == std::chrono::seconds(60));
    CHECK(load_error(route("    retry: {codes: [200]}\n")).find("between 400 and 599") !=
          std::string::npos);
  }

  TEST_CASE("filter mistakes are errors with their field path") {
    auto error_for = [](const std::string& filters) {
      return load_error(with_route(
          "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
          "spec:\n  parentRefs: [{name: web}]\n  rules:\n"
          "  - matches: [{path: {type: Exact, value: /x}}]\n    filters: " +
          filters + "\n"));
    };
    CHECK(error_for("[{type: RequestRedirect}]").find("filters[0].requestRedirect: required") !=
          std::string::npos);
    CHECK(error_for("[{type: RequestRedirect, requestRedirect: {statusCode: 305}}]")
              .find("statusCode") != std::string::npos);
    CHECK(error_for("[{type: URLRewrite, urlRewrite: {}, requestRedirect: {}}]")
              .find("filters[0].requestRedirect: not allowed with type URLRewrite") !=
          std::string::npos);
    CHECK(error_for("[{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, "
                    "replacePrefixMatch: /y}}}]")
              .find("ReplacePrefixMatch needs every match of the rule to be a PathPrefix") !=
          std::string::npos);
    CHECK(error_for("[{type: ExtensionRef, extensionRef: {group: g, kind: k, name: n}}]")
              .find("extensionRef must name a Filter of group gateway.dev") != std::string::npos);
    CHECK(error_for("[{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, "
                    "name: missing}}]")
              .find("Filter default/missing not found") != std::string::npos);
    CHECK(error_for("[{type: RequestHeaderModifier, requestHeaderModifier: {}}, "
                    "{type: RequestHeaderModifier, requestHeaderModifier: {}}]")
              .find("may appear only once") != std::string::npos);
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
  listeners: [{name: udp, port: 53, protocol: UDP}]
)")
              .find("spec.listeners[0].protocol") != std::string::npos);
    CHECK(load_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: a}
spec:
  gatewayClassName: c
  listeners: [{name: https, port: 443, protocol: HTTPS}]
)")
              .find("spec.listeners[0].tls: an HTTPS listener needs") != std::string::npos);
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
    l.limits.buffer_limit = 100;
    l.limits.request_received_timeout = std::chrono::milliseconds(-1);
    cfg.listeners.push_back(l);
    cluster_config c;
    c.name = "c";
    c.endpoints.push_back({"not an ip!", 80, 1});
    c.buffer_limit = std::size_t{2} << 30;
    cfg.clusters.push_back(c);
    try {
      validate(cfg);
      FAIL("validate accepted a broken config");
    } catch (const error& e) {
      std::string msg = e.what();
      CHECK(msg.find("unknown cluster 'nowhere'") != std::string::npos);
      CHECK(msg.find("'not an ip!' is neither an IP address nor a DNS name") != std::string::npos);
      CHECK(msg.find("listener 'l': buffer_limit must be 1 KiB to 1 GiB") != std::string::npos);
      CHECK(msg.find("cluster 'c': buffer_limit must be 1 KiB to 1 GiB") != std::string::npos);
      CHECK(msg.find("the request received timeout >= 0") != std::string::npos);
    }
  }
}
