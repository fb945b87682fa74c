// Distributed tracing through real gateways: W3C trace context in and out,
// the spans an OTLP/HTTP collector receives (a test upstream that keeps what
// is POSTed to it, decoded here as OTLP JSON), sampling, and a collector that
// is gone.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "gateway_fixture.hpp"
#include "otlp_collector.hpp"
#include "test_http.hpp"

using namespace gwtest;
using namespace std::chrono_literals;

namespace {

client_response get(std::uint16_t port, const std::string& target, const std::string& extra = "") {
  return request(port, "GET " + target + " HTTP/1.1\r\nhost: shop.example\r\n" + extra +
                           "connection: close\r\n\r\n");
}

}  // namespace

TEST_SUITE("tracing") {
  TEST_CASE("a request through two gateways is one trace: parents, children, attributes") {
    collector otlp;
    test_upstream app;
    running_gateway back(
        load_on_loopback(app_route_yaml(app.port()) + tracing_policy(otlp.port(), "back")));
    char log_path[] = "/tmp/gateway-trace-log-XXXXXX";
    const int fd = ::mkstemp(log_path);
    REQUIRE(fd >= 0);
    ::close(fd);
    gateway::server_options front_options;
    front_options.threads = 1;
    front_options.level = gateway::log_level::error;
    front_options.access_log = {log_path, "%trace_id% %status%"};
    auto front = std::make_unique<running_gateway>(
        load_on_loopback(app_route_yaml(back.port()) + tracing_policy(otlp.port(), "front")),
        std::move(front_options));

    REQUIRE(get(front->port(), "/shop/items?page=2").status == 200);
    const auto spans = otlp.wait_for(4);
    REQUIRE(spans.size() == 4);
    const span* fs = find_span(spans, "front", 2);
    const span* fc = find_span(spans, "front", 3);
    const span* bs = find_span(spans, "back", 2);
    const span* bc = find_span(spans, "back", 3);
    REQUIRE(fs);
    REQUIRE(fc);
    REQUIRE(bs);
    REQUIRE(bc);
    // One trace; each span's parent is the one before it.
    for (const span* s : {fc, bs, bc})
      CHECK(s->trace == fs->trace);
    CHECK(fs->trace.size() == 32);
    CHECK(fs->parent.empty());
    CHECK(fc->parent == fs->id);
    CHECK(bs->parent == fc->id);
    CHECK(bc->parent == bs->id);
    // The upstream got the back gateway's try as its parent.
    CHECK(app.last().header("traceparent") == "00-" + fs->trace + "-" + bc->id + "-01");
    // The OpenTelemetry HTTP attributes.
    CHECK(fs->name == "GET default/app");
    CHECK(fs->attributes.at("http.request.method") == "GET");
    CHECK(fs->attributes.at("url.path") == "/shop/items");
    CHECK(fs->attributes.at("url.scheme") == "http");
    CHECK(fs->attributes.at("http.route") == "default/app");
    CHECK(fs->attributes.at("http.response.status_code") == "200");
    CHECK(fs->attributes.at("network.protocol.version") == "1.1");
    CHECK(fs->attributes.at("client.address") == "127.0.0.1");
    CHECK(fs->attributes.at("server.address") == "shop.example");
    CHECK(fs->attributes.at("gateway.listener") == "default/web/http");
    CHECK(fs->status == 0);
    CHECK(fc->name == "GET");
    CHECK(fc->attributes.at("network.peer.port") == std::to_string(back.port()));
    CHECK(fc->attributes.at("http.response.status_code") == "200");
    CHECK(fc->attributes.count("http.request.resend_count") == 0);
    CHECK(bc->attributes.at("network.peer.address") == "127.0.0.1");
    CHECK(bc->attributes.at("network.peer.port") == std::to_string(app.port()));
    // The trace id is in the access log.
    front.reset();  // the log's last batch is written as the server stops
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    ::unlink(log_path);
    CHECK(text.str() == fs->trace + " 200\n");
    CHECK(metric(back.server(), "gateway_tracing_spans_total{result=\"recorded\"}") == 2);
    CHECK(eventually([&] {
      return metric(back.server(), "gateway_tracing_spans_total{result=\"exported\"}") == 2;
    }));
  }

  TEST_CASE("every listener of a traced Gateway traces, to the one collector") {
    collector otlp;
    test_upstream app;
    std::string yaml = app_route_yaml(app.port()) + tracing_policy(otlp.port(), "two");
    const std::string one = "listeners: [{name: http, port: 80, protocol: HTTP}]";
    REQUIRE(yaml.find(one) != std::string::npos);
    yaml.replace(yaml.find(one), one.size(),
                 "listeners: [{name: http, port: 80, protocol: HTTP}, {name: alt, port: 81, "
                 "protocol: HTTP}]");
    running_gateway gw(load_on_loopback(yaml));
    REQUIRE(get(gw.server().port("default/web/http"), "/").status == 200);
    REQUIRE(get(gw.server().port("default/web/alt"), "/").status == 200);
    const auto spans = otlp.wait_for(4);
    std::set<std::string> listeners;
    for (const span& s : spans)
      if (s.kind == 2) listeners.insert(s.attributes.at("gateway.listener"));
    CHECK(listeners == std::set<std::string>{"default/web/http", "default/web/alt"});
  }

  TEST_CASE("a client's trace context is joined when sampled and passed on as is when not") {
    collector otlp;
    test_upstream app;
    running_gateway gw(
        load_on_loopback(app_route_yaml(app.port()) + tracing_policy(otlp.port(), "gw")));
    const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    REQUIRE(get(gw.port(), "/",
                "traceparent: 00-" + trace +
                    "-00f067aa0ba902b7-01\r\n"
                    "tracestate: vendor=opaque\r\n")
                .status == 200);
    const auto spans = otlp.wait_for(2);
    const span* server = find_span(spans, "gw", 2);
    const span* client = find_span(spans, "gw", 3);
    REQUIRE(server);
    REQUIRE(client);
    CHECK(server->trace == trace);
    CHECK(server->parent == "00f067aa0ba902b7");
    CHECK(app.last().header("traceparent") == "00-" + trace + "-" + client->id + "-01");
    CHECK(app.last().header("tracestate") == "vendor=opaque");
    CHECK(app.last().count("traceparent") == 1);

    // Not sampled upstream of us: nothing recorded, the context goes on unchanged.
    const std::string unsampled = "00-" + trace + "-00f067aa0ba902b7-00";
    REQUIRE(get(gw.port(), "/", "traceparent: " + unsampled + "\r\n").status == 200);
    CHECK(app.last().header("traceparent") == unsampled);
    // A malformed one starts a new trace (and is not forwarded).
    REQUIRE(get(gw.port(), "/", "traceparent: 00-XYZ-bad-01\r\n").status == 200);
    const auto more = otlp.wait_for(4);
    CHECK(more.size() == 4);
    const std::string sent = app.last().header("traceparent");
    CHECK(sent.size() == 55);
    CHECK(sent.substr(3, 32) != trace);
    CHECK(sent.substr(3, 32) == more.back().trace);
  }

  TEST_CASE("sampling 0 records and sends nothing, a gone collector costs requests nothing") {
    collector otlp;
    test_upstream app;
    {
      running_gateway gw(load_on_loopback(app_route_yaml(app.port()) +
                                          tracing_policy(otlp.port(), "gw", "samplingRate: 0")));
      for (int i = 0; i < 20; ++i)
        REQUIRE(get(gw.port(), "/").status == 200);
      CHECK(app.last().count("traceparent") == 0);
      std::this_thread::sleep_for(300ms);  // six flush intervals
      CHECK(metric(gw.server(), "gateway_tracing_spans_total{result=\"recorded\"}") == 0);
    }
    CHECK(otlp.batches() == 0);

    // A port this test holds without listening, so connections to it are
    // refused: every batch fails, every request is served.
    const int held = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(held >= 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(held, reinterpret_cast<const sockaddr*>(&at), sizeof at) == 0);
    socklen_t at_size = sizeof at;
    REQUIRE(::getsockname(held, reinterpret_cast<sockaddr*>(&at), &at_size) == 0);
    const std::uint16_t dead = ntohs(at.sin_port);
    running_gateway gw(load_on_loopback(app_route_yaml(app.port()) + tracing_policy(dead, "gw")));
    for (int i = 0; i < 50; ++i)
      REQUIRE(get(gw.port(), "/").status == 200);
    CHECK(eventually([&] {
      return metric(gw.server(), "gateway_tracing_spans_total{result=\"failed\"}") == 100;
    }));
    CHECK(metric(gw.server(), "gateway_tracing_spans_total{result=\"exported\"}") == 0);
    CHECK(metric(gw.server(), "gateway_tracing_spans_total{result=\"dropped\"}") == 0);
    ::close(held);
  }

  TEST_CASE("each upstream try is a client span, the WAF's and filters' decisions are events") {
    collector otlp;
    std::atomic<int> calls{0};
    test_upstream app([&](const received_request&) {
      response_plan p;
      p.status = calls++ == 0 ? 503 : 200;
      return p;
    });
    const std::string yaml = app_route_yaml(app.port()) + tracing_policy(otlp.port(), "gw") + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: retry}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  retry:
    numRetries: 2
    retryOn: {httpStatusCodes: [503]}
    perRetry: {backOff: {baseInterval: 10ms}}
---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: crs}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  mode: "On"
  ruleSet: {crs: {}}
  log: {path: /dev/null, format: JSON}
)";
    running_gateway gw(load_on_loopback(yaml));
    REQUIRE(get(gw.port(), "/retried").status == 200);
    auto spans = otlp.wait_for(3);
    REQUIRE(spans.size() == 3);
    std::vector<const span*> tries;
    for (const span& s : spans)
      if (s.kind == 3) tries.push_back(&s);
    REQUIRE(tries.size() == 2);
    CHECK(tries[0]->attributes.at("http.response.status_code") == "503");
    CHECK(tries[0]->status == 2);
    CHECK(tries[0]->attributes.count("http.request.resend_count") == 0);
    CHECK(tries[1]->attributes.at("http.response.status_code") == "200");
    CHECK(tries[1]->attributes.at("http.request.resend_count") == "1");
    CHECK(tries[0]->id != tries[1]->id);
    CHECK(app.last().header("traceparent").substr(36, 16) == tries[1]->id);

    // A request the WAF blocks: a server span with the decision as an event, no try.
    REQUIRE(get(gw.port(), "/?q=%3Cscript%3Ealert(1)%3C/script%3E").status == 403);
    spans = otlp.wait_for(4);
    REQUIRE(spans.size() == 4);
    const span& blocked = spans.back();
    CHECK(blocked.kind == 2);
    CHECK(blocked.attributes.at("http.response.status_code") == "403");
    REQUIRE(!blocked.events.empty());
    CHECK(blocked.events[0].first == "waf");
    CHECK(blocked.events[0].second.at("waf.action") == "deny");
    CHECK(blocked.events[0].second.at("waf.rules").find("941100") != std::string::npos);
  }
}
