// gRPC through the gateway with real gRPC code on both sides (Debian's
// python3-grpcio): tests/support/grpc_upstream.py serves, grpc_client.py
// calls. GRPCRoute matching, the four call kinds over h2c and TLS, the
// gRPC status of every answer the gateway makes itself, grpc-timeout, and
// what the access log and the metrics say.
#include <algorithm>
#include <fstream>
#include <iterator>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "otlp_collector.hpp"
#include "python_server.hpp"
#include "shell_run.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

// The gRPC test server named `name` (the x-server trailer of its replies).
struct grpc_upstream : python_server {
  explicit grpc_upstream(const std::string& name, const std::string& health_file = "")
      : python_server("grpc_upstream.py", health_file.empty()
                                              ? std::vector<std::string>{name}
                                              : std::vector<std::string>{name, health_file}) {}
};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs grpc_client.py with `spec` (JSON) and returns one output line per call.
std::vector<std::string> grpc_calls(const std::string& spec) {
  return script_lines("grpc_client.py", spec);
}

// The spec for calls to the gateway on `port` (plain h2c).
std::string spec(std::uint16_t port, const std::string& calls) {
  return "{\"target\": \"127.0.0.1:" + std::to_string(port) + "\", \"calls\": [" + calls + "]}";
}

std::string unary(const std::string& method, const std::string& body,
                  const std::string& extra = "") {
  return "{\"kind\": \"unary\", \"method\": \"" + method + "\", \"body\": \"" + body + "\"" +
         extra + "}";
}

std::string code_of(const std::string& line) {
  const std::string key = "\"code\": \"";
  const std::size_t at = line.find(key);
  if (at == std::string::npos) return "";
  return line.substr(at + key.size(), line.find('"', at + key.size()) - at - key.size());
}

// The Gateway, a Service per gRPC server, and `routes` (more documents).
std::string grpc_yaml(const std::vector<std::pair<std::string, std::uint16_t>>& services,
                      const std::string& routes) {
  std::string yaml = gateway_yaml;
  for (const auto& [name, port] : services)
    yaml += service_yaml(name, port);
  return yaml + routes;
}

std::string grpc_route(const std::string& name, const std::string& rules,
                       const std::string& hostnames = "") {
  return "---\napiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: " +
         name + "}\nspec:\n  parentRefs: [{name: web}]\n" +
         (hostnames.empty() ? "" : "  hostnames: " + hostnames + "\n") + "  rules:\n" + rules;
}

}  // namespace

TEST_SUITE("grpc") {
  TEST_CASE("unary and streaming calls of every kind through h2c and TLS listeners") {
    grpc_upstream up("a");
    test_pki pki;
    const std::string route = grpc_route("echo", "  - backendRefs: [{name: echo, port: 80}]\n");
    const std::string yaml =
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web}\n"
        "spec:\n  gatewayClassName: any\n  listeners:\n"
        "  - {name: http, port: 80, protocol: HTTP}\n"
        "  - name: https\n    port: 443\n    protocol: HTTPS\n"
        "    tls: {mode: Terminate, certificateRefs: [{name: cert}]}\n" +
        service_yaml("echo", up.port()) + route + tls_secret_yaml(pki, "cert", "server");
    running_gateway gw(load_on_loopback(yaml));
    const std::uint16_t plain = gw.server().port("default/web/http");
    const std::uint16_t tls = gw.server().port("default/web/https");
    const std::string big(1000, 'x');  // of the 512 KiB (several windows) the client sends
    const std::string calls =
        unary("/test.Echo/Unary", "hello", ", \"timeout\": 20") + ", " +
        "{\"kind\": \"server_stream\", \"method\": \"/test.Echo/ServerStream\", \"body\": "
        "\"200\"}, "
        "{\"kind\": \"client_stream\", \"method\": \"/test.Echo/ClientStream\", \"parts\": "
        "[\"a\", \"b\", \"c\"]}, "
        "{\"kind\": \"bidi\", \"method\": \"/test.Echo/Bidi\", \"parts\": [\"x\", \"y\", "
        "\"z\"]}, " +
        "{\"kind\": \"unary\", \"method\": \"/test.Echo/Unary\", \"size\": 524288}, " +
        unary("/test.Echo/Fail", "NOT_FOUND");
    for (const std::string& to :
         {spec(plain, calls), "{\"target\": \"127.0.0.1:" + std::to_string(tls) + "\", \"ca\": \"" +
                                  pki.path("ca.crt") +
                                  "\", \"server_name\": \"upstream.test\", \"calls\": [" + calls +
                                  "]}"}) {
      const auto got = grpc_calls(to);
      REQUIRE(got.size() == 6);
      CAPTURE(got[0]);
      CHECK(code_of(got[0]) == "OK");
      CHECK(has(got[0], "\\\"body\\\": \\\"hello\\\""));
      CHECK(has(got[0], "[\"x-server\", \"a\"]"));  // trailers came through
      // The client's deadline (20 s) went on as grpc-timeout: the server saw one.
      const std::string key = "\\\"remaining\\\": ";
      REQUIRE(has(got[0], key));
      const double remaining = std::stod(got[0].substr(got[0].find(key) + key.size()));
      CHECK(remaining > 0);
      // grpc-timeout has a few digits and a unit, which gRPC rounds up:
      // a little over 20 s may reach the server; no deadline at all is 9.2e18.
      CHECK(remaining < 25);
      CHECK(code_of(got[1]) == "OK");
      CHECK(has(got[1], "\"0\", \"1\", \"2\""));
      CHECK(has(got[1], "\"199\"]"));
      CHECK(has(got[2], "\"replies\": [\"a,b,c\"]"));
      CHECK(has(got[3], "\"replies\": [\"X\", \"Y\", \"Z\"]"));
      CHECK(code_of(got[4]) == "OK");
      CHECK(has(got[4], big));
      // The upstream's own status (a Trailers-Only answer) reaches the client as it was.
      CHECK(code_of(got[5]) == "NOT_FOUND");
      CHECK(has(got[5], "\"details\": \"failed on purpose\""));
    }
  }

  TEST_CASE("a traced gRPC call: HTTP/2 both ways, its grpc-status on the server span") {
    grpc_upstream up("a");
    collector otlp;
    running_gateway gw(load_on_loopback(
        grpc_yaml({{"echo", up.port()}},
                  grpc_route("echo", "  - backendRefs: [{name: echo, port: 80}]\n")) +
        tracing_policy(otlp.port(), "grpc")));
    const auto got = grpc_calls(spec(gw.port(), unary("/test.Echo/Fail", "ABORTED")));
    REQUIRE(got.size() == 1);
    const auto spans = otlp.wait_for(2);
    const span* server = find_span(spans, "grpc", 2);
    const span* client = find_span(spans, "grpc", 3);
    REQUIRE(server);
    REQUIRE(client);
    CHECK(server->name == "POST default/echo");
    CHECK(server->attributes.at("network.protocol.version") == "2");
    CHECK(server->attributes.at("rpc.grpc.status_code") == "10");
    CHECK(server->attributes.at("http.response.status_code") == "200");
    CHECK(client->parent == server->id);
    CHECK(client->attributes.at("network.peer.port") == std::to_string(up.port()));
  }

  TEST_CASE("GRPCRoute matches and precedence pick the backend") {
    grpc_upstream a("a"), b("b");
    running_gateway gw(load_on_loopback(grpc_yaml(
        {{"a", a.port()}, {"b", b.port()}},
        grpc_route("by-service",
                   "  - matches: [{method: {service: test.Echo}}]\n"
                   "    backendRefs: [{name: a, port: 80}]\n") +
            grpc_route(
                "by-method",
                "  - matches: [{method: {service: test.Echo, method: ServerStream}}]\n"
                "    backendRefs: [{name: b, port: 80}]\n"
                "  - matches: [{method: {type: RegularExpression, service: \"test\\\\.E.*\", "
                "method: \"Bi.i\"}}]\n"
                "    backendRefs: [{name: b, port: 80}]\n"
                "  - matches: [{method: {service: test.Echo}, headers: [{name: x-pick, "
                "value: b}]}]\n"
                "    backendRefs: [{name: b, port: 80}]\n"))));
    const auto got = grpc_calls(spec(
        gw.port(),
        unary("/test.Echo/Unary", "1") + ", " +
            unary("/test.Echo/Unary", "2", ", \"metadata\": [[\"x-pick\", \"b\"]]") +
            ", {\"kind\": \"server_stream\", \"method\": \"/test.Echo/ServerStream\", \"body\": "
            "\"1\"}, {\"kind\": \"bidi\", \"method\": \"/test.Echo/Bidi\", \"parts\": [\"q\"]}, " +
            unary("/other.Service/Unary", "3")));
    REQUIRE(got.size() == 5);
    CHECK(has(got[0], "[\"x-server\", \"a\"]"));  // service only
    CHECK(has(got[1], "[\"x-server\", \"b\"]"));  // same service, one header match more
    CHECK(has(got[2], "[\"x-server\", \"b\"]"));  // service and method beat service alone
    // A regular expression on the method has its characters counted too.
    CHECK(has(got[3], "[\"x-server\", \"b\"]"));
    CHECK(code_of(got[4]) == "UNIMPLEMENTED");  // no route: the gateway's own answer
  }

  TEST_CASE("answers the gateway makes itself carry the gRPC status the spec maps them to") {
    grpc_upstream up("a");
    std::uint16_t dead;
    {
      test_upstream gone;
      dead = gone.port();
    }  // closed: connecting to it is refused
    auto by_case = [](const std::string& name, const std::string& backend) {
      return grpc_route(
          name,
          "  - name: r\n    matches: [{method: {service: test.Echo}, headers: "
          "[{name: x-case, value: " +
              name + "}]}]\n" +
              (backend.empty() ? "" : "    backendRefs: [{name: " + backend + ", port: 80}]\n"));
    };
    const std::string policies = R"(---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData: {client-a: key-aaa}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: auth}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: auth}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key]}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: deny}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: deny}]
  authorization: {defaultAction: Deny}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: limit}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: limit}]
  rateLimit:
    type: Local
    local:
      rules:
      - limit: {requests: 1, unit: Minute}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: overflow}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: overflow}]
  circuitBreaker: {maxParallelRequests: 1, maxPendingRequests: 0}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: slow}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: slow}]
  timeout: {http: {requestTimeout: 300ms}}
---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: waf}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: waf}]
  ruleSet:
    directives: |
      SecRule REQUEST_HEADERS:x-attack "@streq yes" "id:10001,phase:1,deny,status:403,log,msg:'attack'"
)";
    auto cfg = load_on_loopback(grpc_yaml(
        {{"echo", up.port()}, {"dead", dead}},
        by_case("dead", "dead") + by_case("none", "") + by_case("auth", "echo") +
            by_case("deny", "echo") + by_case("limit", "echo") + by_case("overflow", "echo") +
            by_case("slow", "echo") + by_case("waf", "echo") + policies));
    running_gateway gw(std::move(cfg));
    auto with_case = [](const std::string& method, const std::string& body, const std::string& c,
                        const std::string& more = "") {
      return unary(method, body, ", \"metadata\": [[\"x-case\", \"" + c + "\"]" + more + "]");
    };
    const auto got = grpc_calls(
        spec(gw.port(),
             unary("/test.Echo/Unary", "x") + ", " + with_case("/test.Echo/Unary", "x", "dead") +
                 ", " + with_case("/test.Echo/Unary", "x", "none") + ", " +
                 with_case("/test.Echo/Unary", "x", "auth") + ", " +
                 with_case("/test.Echo/Unary", "x", "auth", ", [\"x-api-key\", \"key-aaa\"]") +
                 ", " + with_case("/test.Echo/Unary", "x", "deny") + ", " +
                 with_case("/test.Echo/Unary", "x", "limit") + ", " +
                 with_case("/test.Echo/Unary", "x", "limit") + ", " +
                 with_case("/test.Echo/Sleep", "3000", "slow") + ", " +
                 with_case("/test.Echo/Unary", "x", "waf") + ", " +
                 with_case("/test.Echo/Unary", "x", "waf", ", [\"x-attack\", \"yes\"]") + ", " +
                 "{\"kind\": \"unary\", \"method\": \"/test.Echo/Sleep\", \"body\": \"5000\", "
                 "\"concurrency\": 2, \"metadata\": [[\"x-case\", \"overflow\"]]}"));
    REQUIRE(got.size() == 13);
    for (const std::string& line : got)
      MESSAGE(line);
    CHECK(code_of(got[0]) == "UNIMPLEMENTED");  // no route: 404
    CHECK(code_of(got[1]) == "UNAVAILABLE");    // connection refused: 503
    CHECK(has(got[1], "upstream connect error"));
    CHECK(code_of(got[2]) == "UNAVAILABLE");      // a rule with no backend
    CHECK(code_of(got[3]) == "UNAUTHENTICATED");  // no API key: 401
    CHECK(code_of(got[4]) == "OK");
    CHECK(code_of(got[5]) == "PERMISSION_DENIED");  // authorization: 403
    CHECK(code_of(got[6]) == "OK");
    CHECK(code_of(got[7]) == "UNAVAILABLE");        // rate limited: 429
    CHECK(code_of(got[8]) == "DEADLINE_EXCEEDED");  // the route's timeout
    CHECK(has(got[8], "upstream request timeout"));
    CHECK(code_of(got[9]) == "OK");
    CHECK(code_of(got[10]) == "PERMISSION_DENIED");  // the WAF's 403
    // Two calls at once where one is allowed: the other overflows (503).
    std::vector<std::string> both = {code_of(got[11]), code_of(got[12])};
    std::sort(both.begin(), both.end());
    CHECK(both == std::vector<std::string>{"OK", "UNAVAILABLE"});
    CHECK((has(got[11], "upstream overflow") || has(got[12], "upstream overflow")));
  }

  TEST_CASE("grpc-timeout bounds the request and the log and metrics carry the gRPC status") {
    grpc_upstream up("a");
    temp_dir dir;
    gateway::server_options o;
    o.threads = 1;
    o.level = gateway::log_level::error;
    o.access_log = {dir.path + "/access.log", "%path% %status% %grpc_status%"};
    gateway::server gw(load_on_loopback(grpc_yaml(
                           {{"echo", up.port()}},
                           grpc_route("echo", "  - backendRefs: [{name: echo, port: 80}]\n"))),
                       o);
    gw.start();
    // A raw HTTP/2 client that does not keep the deadline itself: the
    // gateway's answer at 300 ms is what ends the call that sleeps 5 s.
    const std::string frame = dir.path + "/sleep.bin";
    run("printf '\\000\\000\\000\\000\\0045000' > '" + frame + "'");
    auto raw = [&](const std::string& timeout) {
      return run(
          "nghttp -v -H 'content-type: application/grpc' -H 'te: trailers' -H "
          "'grpc-timeout: " +
          timeout + "' -d '" + frame + "' '" + url(gw.port(), "/test.Echo/Sleep") + "' 2>&1");
    };
    std::string out = raw("300m");
    CAPTURE(out);
    CHECK(has(out, "grpc-status: 4"));
    CHECK(has(out, "grpc-message: upstream request timeout"));
    // Trailers-Only: one HEADERS frame ends the stream, without a length.
    CHECK(!has(out, "recv (stream_id=13) content-length"));
    const std::size_t headers = out.find("recv HEADERS frame <length=");
    REQUIRE(headers != std::string::npos);
    CHECK(out.substr(headers, out.find('\n', headers) - headers).find("flags=0x05") !=
          std::string::npos);
    CHECK(!has(out, "recv DATA frame"));
    out = raw("soon");
    CHECK(has(out, "grpc-status: 13"));
    CHECK(has(out, "grpc-message: malformed grpc-timeout"));
    const auto got = grpc_calls(spec(gw.port(), unary("/test.Echo/Unary", "x") + ", " +
                                                    unary("/test.Echo/Fail", "ABORTED") + ", " +
                                                    unary("/none.Svc/X", "")));
    REQUIRE(got.size() == 3);
    std::string log;
    CHECK(eventually([&] {
      std::ifstream in(dir.path + "/access.log");
      log.assign(std::istreambuf_iterator<char>(in), {});
      return std::count(log.begin(), log.end(), '\n') >= 5;
    }));
    CAPTURE(log);
    CHECK(has(log, "/test.Echo/Sleep 200 4\n"));
    CHECK(has(log, "/test.Echo/Sleep 200 13\n"));
    CHECK(has(log, "/test.Echo/Unary 200 0\n"));
    CHECK(has(log, "/test.Echo/Fail 200 10\n"));
    CHECK(has(log, "/none.Svc/X 200 12\n"));
    const std::string labels =
        "listener=\"default/web/http\",route=\"default/echo\",backend=\"default/echo:80#grpc\"";
    CHECK(has(gw.stats_text(), "gateway_grpc_requests_total{"));
    CAPTURE(gw.stats_text());
    CHECK(metric(gw, "gateway_grpc_requests_total{" + labels + ",grpc_code=\"OK\"}") == 1);
    CHECK(metric(gw, "gateway_grpc_requests_total{" + labels + ",grpc_code=\"ABORTED\"}") == 1);
    CHECK(metric(gw, "gateway_grpc_requests_total{" + labels +
                         ",grpc_code=\"DEADLINE_EXCEEDED\"}") == 1);
  }

  TEST_CASE("gRPC health checks take an endpoint out while it is NOT_SERVING and back after") {
    temp_dir dir;
    const std::string health_a = dir.path + "/a", health_b = dir.path + "/b";
    grpc_upstream a("a", health_a), b("b", health_b);
    auto slice = [](const std::string& name, std::uint16_t port) {
      return "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
             ", labels: {kubernetes.io/service-name: echo}}\naddressType: IPv4\n"
             "endpoints: [{addresses: [127.0.0.1]}]\nports: [{name: http, port: " +
             std::to_string(port) + "}]\n";
    };
    const std::string yaml =
        gateway_yaml +
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: echo}\nspec: {ports: [{name: "
        "http, port: 80}]}\n" +
        slice("echo-a", a.port()) + slice("echo-b", b.port()) +
        grpc_route("echo", "  - backendRefs: [{name: echo, port: 80}]\n") + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: health}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: echo}]
  healthCheck:
    active:
      type: GRPC
      interval: 100ms
      timeout: 2s
      unhealthyThreshold: 1
      healthyThreshold: 1
      grpc: {service: test.Echo}
)";
    running_gateway gw(load_on_loopback(yaml));
    const std::string cluster = "default/echo:80#grpc@default/health";
    auto healthy = [&](const grpc_upstream& u) {
      return metric(gw.server(), "gateway_upstream_endpoint_healthy{cluster=\"" + cluster +
                                     "\",endpoint=\"127.0.0.1:" + std::to_string(u.port()) + "\"}");
    };
    REQUIRE(eventually([&] { return healthy(a) == 1 && healthy(b) == 1; }));
    auto servers = [&] {
      std::string seen;
      for (const std::string& line :
           grpc_calls(spec(gw.port(),
                           "{\"kind\": \"unary\", \"method\": \"/test.Echo/Unary\", "
                           "\"body\": \"x\", \"concurrency\": 8}")))
        seen += has(line, "[\"x-server\", \"a\"]")   ? "a"
                : has(line, "[\"x-server\", \"b\"]") ? "b"
                                                     : "?";
      return seen;
    };
    run("echo NOT_SERVING > '" + health_a + "'");
    REQUIRE(eventually([&] { return healthy(a) == 0; }, std::chrono::seconds(20)));
    CHECK(healthy(b) == 1);
    CHECK(servers() == "bbbbbbbb");
    run("echo SERVING > '" + health_a + "'");
    REQUIRE(eventually([&] { return healthy(a) == 1; }, std::chrono::seconds(20)));
    // Both serve again: round robin gives each a share.
    const std::string both = servers();
    CHECK(both.find('a') != std::string::npos);
    CHECK(both.find('b') != std::string::npos);
    // A service the endpoint does not know (NOT_FOUND) fails the check too.
    gateway::gateway_config unknown = load_on_loopback(yaml);
    for (auto& c : unknown.clusters)
      c.health_check.grpc_service = "no.Such";
    running_gateway gw2(std::move(unknown));
    REQUIRE(eventually(
        [&] {
          return metric(gw2.server(), "gateway_upstream_endpoint_healthy{cluster=\"" + cluster +
                                          "\",endpoint=\"127.0.0.1:" + std::to_string(b.port()) +
                                          "\"}") == 0;
        },
        std::chrono::seconds(20)));
  }

  TEST_CASE("gRPC-Web calls from HTTP/1.1 reach a gRPC upstream and come back as gRPC-Web") {
    grpc_upstream up("a");
    python_server fields("h2_upstream.py", {"echo"});  // answers with the request it got
    running_gateway gw(
        load_on_loopback(grpc_yaml({{"echo", up.port()}, {"fields", fields.port()}},
                                   grpc_route("echo",
                                              "  - matches: [{method: {service: test.Echo}}]\n"
                                              "    backendRefs: [{name: echo, port: 80}]\n"
                                              "  - matches: [{method: {service: fields.Echo}}]\n"
                                              "    backendRefs: [{name: fields, port: 80}]\n"))));
    auto web = [&](const std::string& method, const std::string& body,
                   const std::string& type = "application/grpc-web+proto") {
      const std::string out =
          run(std::string(GATEWAY_TEST_PYTHON) +
              " " GATEWAY_TEST_SUPPORT_DIR "/grpc_web_client.py 127.0.0.1:" +
              std::to_string(gw.port()) + " " + method + " '" + body + "' " + type + " 2>&1");
      CAPTURE(out);
      CHECK(!has(out, "\"error\""));
      return out;
    };
    std::string got = web("/test.Echo/Unary", "hello");
    CHECK(has(got, "\"status\": 200"));
    CHECK(has(got, "\"content-type\": \"application/grpc-web+proto\""));
    CHECK(has(got, "\\\"body\\\": \\\"hello\\\""));
    // Its trailers are the body's last frame.
    CHECK(has(got, "\"grpc-status\": \"0\""));
    CHECK(has(got, "\"x-server\": \"a\""));
    // What the upstream gets is gRPC: its Content-Type, and te: trailers.
    const std::string seen =
        run("curl -sS --max-time 30 -H 'content-type: application/grpc-web+proto' "
            "--data-binary x '" +
            url(gw.port(), "/fields.Echo/Call") + "'");
    CAPTURE(seen);
    CHECK(has(seen, "[\"content-type\", \"application/grpc+proto\"]"));
    CHECK(has(seen, "[\"te\", \"trailers\"]"));
    got = web("/test.Echo/ServerStream", "3");
    CHECK(has(got, "\"messages\": [\"0\", \"1\", \"2\"]"));
    CHECK(has(got, "\"grpc-status\": \"0\""));
    // A Trailers-Only answer keeps its status in the head.
    got = web("/test.Echo/Fail", "PERMISSION_DENIED");
    CHECK(has(got, "\"grpc-status\": \"7\""));
    CHECK(has(got, "\"messages\": []"));
    // The gateway's own answers speak gRPC-Web too.
    got = web("/other.Service/Call", "x");
    CHECK(has(got, "\"grpc-status\": \"12\""));
    CHECK(has(got, "\"content-type\": \"application/grpc-web+proto\""));
    // The text form: base64 bodies both ways.
    const std::string text = "application/grpc-web-text+proto";
    got = web("/test.Echo/Unary", "hello in text", text);
    CHECK(has(got, "\"content-type\": \"application/grpc-web-text+proto\""));
    CHECK(has(got, "\\\"body\\\": \\\"hello in text\\\""));
    CHECK(has(got, "\"grpc-status\": \"0\""));
    got = web("/test.Echo/ServerStream", "4", text);
    CHECK(has(got, "\"messages\": [\"0\", \"1\", \"2\", \"3\"]"));
    got = web("/other.Service/Call", "x", text);
    CHECK(has(got, "\"grpc-status\": \"12\""));
    // A text body that is not base64 is refused (INTERNAL, as a malformed request).
    const client_response bad =
        request(gw.port(), "POST /test.Echo/Unary HTTP/1.1\r\nhost: x\r\ncontent-type: " + text +
                               "\r\ncontent-length: 5\r\n\r\n!!!!!");
    CHECK(bad.status == 200);
    CHECK(bad.header("grpc-status") == "13");
    CHECK(has(bad.header("grpc-message"), "not base64"));
  }

  TEST_CASE("a C++ filter sees and edits the trailers of gRPC responses") {
    grpc_upstream up("a");
    // Notes each response's grpc-status in a trailer of its own and turns
    // NOT_FOUND into PERMISSION_DENIED.
    struct note final : gateway::filter {
      gateway::filter_status on_response_trailers(gateway::filter_context& ctx) override {
        gateway::header_map& t = ctx.response_trailers();
        const std::string status(t.get("grpc-status").value_or("none"));
        t.add("x-seen-status", status);
        if (status == "5") t.set("grpc-status", "7");
        return gateway::filter_status::next;
      }
    };
    struct note_factory final : gateway::filter_factory {
      gateway::filter* create(gateway::filter_arena& arena) const override {
        return arena.make<note>();
      }
      std::uint8_t hooks() const noexcept override { return gateway::hook_response_trailers; }
    };
    gateway::filter_registry filters = gateway::filter_registry::builtin();
    filters.add("grpc-note", [](std::string_view) { return std::make_shared<note_factory>(); });
    const std::string yaml =
        grpc_yaml({{"echo", up.port()}},
                  grpc_route("echo",
                             "  - backendRefs: [{name: echo, port: 80}]\n"
                             "    filters: [{type: ExtensionRef, extensionRef: {group: "
                             "gateway.dev, kind: Filter, name: note}}]\n")) +
        "---\napiVersion: gateway.dev/v1alpha1\nkind: Filter\nmetadata: {name: note}\n"
        "spec: {type: grpc-note}\n";
    auto cfg = gateway::load_yaml(yaml, "test.yaml", filters);
    for (auto& l : cfg.listeners) {
      l.bind_address = "127.0.0.1";
      l.bind_port = 0;
    }
    running_gateway gw(std::move(cfg));
    const auto got = grpc_calls(spec(
        gw.port(), unary("/test.Echo/Unary", "x") + ", " +
                       "{\"kind\": \"server_stream\", \"method\": \"/test.Echo/ServerStream\", "
                       "\"body\": \"2\"}, " +
                       unary("/test.Echo/Fail", "NOT_FOUND")));
    REQUIRE(got.size() == 3);
    CHECK(code_of(got[0]) == "OK");
    CHECK(has(got[0], "[\"x-seen-status\", \"0\"]"));
    CHECK(has(got[1], "[\"x-seen-status\", \"0\"]"));
    // A Trailers-Only answer ended with its head: no trailers hook, status as sent.
    CHECK(code_of(got[2]) == "NOT_FOUND");
    CHECK(!has(got[2], "x-seen-status"));
  }

  TEST_CASE("the CRS in front of gRPC: 920420 refuses its content type until excluded") {
    grpc_upstream up("a");
    auto with_waf = [&](const std::string& exclusions) {
      return load_on_loopback(
          grpc_yaml({{"echo", up.port()}},
                    grpc_route("echo", "  - backendRefs: [{name: echo, port: 80}]\n")) +
          "---\napiVersion: gateway.dev/v1alpha1\nkind: WafPolicy\nmetadata: {name: waf}\n"
          "spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: GRPCRoute, name: "
          "echo}]\n  ruleSet: {crs: {paranoiaLevel: 1}}\n" +
          exclusions);
    };
    {
      running_gateway gw(with_waf(""));
      const auto got = grpc_calls(spec(gw.port(), unary("/test.Echo/Unary", "x")));
      REQUIRE(got.size() == 1);
      CHECK(code_of(got[0]) == "PERMISSION_DENIED");
    }
    running_gateway gw(with_waf("  exclusions: [{ruleIds: [920420]}]\n"));
    const auto got =
        grpc_calls(spec(gw.port(), unary("/test.Echo/Unary", "x") + ", " +
                                       unary("/test.Echo/Unary", "x",
                                             ", \"metadata\": [[\"referer\", \"1' OR '1'='1\"]]")));
    REQUIRE(got.size() == 2);
    CHECK(code_of(got[0]) == "OK");
    // The rest of the CRS still looks at the head: SQL injection in Referer (942100).
    CHECK(code_of(got[1]) == "PERMISSION_DENIED");
  }

  TEST_CASE("RequestMirror on a GRPCRoute copies the call to another gRPC server over HTTP/2") {
    grpc_upstream up("a"), copy("m");
    running_gateway gw(load_on_loopback(
        grpc_yaml({{"echo", up.port()}, {"copy", copy.port()}},
                  grpc_route("echo",
                             "  - backendRefs: [{name: echo, port: 80}]\n"
                             "    filters:\n    - type: RequestMirror\n"
                             "      requestMirror: {backendRef: {name: copy, port: 80}}\n"))));
    const auto got = grpc_calls(spec(gw.port(), unary("/test.Echo/Unary", "twice")));
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "[\"x-server\", \"a\"]"));  // the answer is the route backend's
    // The copy reached the other server as a gRPC call: it answered with a head.
    CHECK(eventually([&] {
      return metric(gw.server(), "gateway_mirror_requests_total{result=\"sent\"}") == 1;
    }));
    CHECK(metric(gw.server(), "gateway_mirror_requests_total{result=\"failed\"}") == 0);
  }
}
