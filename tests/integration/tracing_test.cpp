// Distributed tracing through real gateways: W3C trace context in and out,
// the spans an OTLP/HTTP collector receives (a test upstream that keeps what
// is POSTed to it, decoded here as OTLP JSON), sampling, and a collector that
// is gone.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;
using namespace std::chrono_literals;

namespace {

// One span as the collector got it.
struct span {
  std::string service, trace, id, parent, name;
  int kind = 0;
  std::map<std::string, std::string> attributes;  // numbers as their decimal text
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> events;
  int status = 0;  // 2: error
};

std::map<std::string, std::string> attributes_of(const boost::json::value& list) {
  std::map<std::string, std::string> out;
  for (const auto& a : list.as_array()) {
    const auto& v = a.at("value").as_object();
    out[std::string(a.at("key").as_string())] = v.contains("stringValue")
                                                    ? std::string(v.at("stringValue").as_string())
                                                    : std::string(v.at("intValue").as_string());
  }
  return out;
}

// An OTLP/HTTP collector: keeps every span of every batch POSTed to /v1/traces.
class collector {
 public:
  collector()
      : server_([this](const received_request& r) {
          response_plan p;
          if (r.method != "POST" || r.target != "/v1/traces" ||
              r.header("content-type") != "application/json") {
            p.status = 400;
            return p;
          }
          take(r.body);
          p.body = "{}";
          p.headers = {{"content-type", "application/json"}};
          return p;
        }) {}
  std::uint16_t port() const { return server_.port(); }
  std::vector<span> spans() {
    std::lock_guard lock(mutex_);
    return spans_;
  }
  std::size_t batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  // The spans once there are at least `n` (within 10 s).
  std::vector<span> wait_for(std::size_t n) {
    eventually([&] { return spans().size() >= n; }, 10s);
    return spans();
  }

 private:
  void take(const std::string& body) {
    const boost::json::value doc = boost::json::parse(body);
    std::lock_guard lock(mutex_);
    ++batches_;
    for (const auto& rs : doc.at("resourceSpans").as_array()) {
      const auto resource = attributes_of(rs.at("resource").at("attributes"));
      for (const auto& ss : rs.at("scopeSpans").as_array())
        for (const auto& s : ss.at("spans").as_array()) {
          span out;
          out.service = resource.at("service.name");
          out.trace = s.at("traceId").as_string();
          out.id = s.at("spanId").as_string();
          if (s.as_object().contains("parentSpanId")) out.parent = s.at("parentSpanId").as_string();
          out.name = s.at("name").as_string();
          out.kind = static_cast<int>(s.at("kind").as_int64());
          out.attributes = attributes_of(s.at("attributes"));
          if (s.as_object().contains("events"))
            for (const auto& e : s.at("events").as_array())
              out.events.emplace_back(std::string(e.at("name").as_string()),
                                      attributes_of(e.at("attributes")));
          const auto& st = s.at("status").as_object();
          if (st.contains("code")) out.status = static_cast<int>(st.at("code").as_int64());
          CHECK(std::stoll(std::string(s.at("endTimeUnixNano").as_string())) >=
                std::stoll(std::string(s.at("startTimeUnixNano").as_string())));
          spans_.push_back(std::move(out));
        }
    }
  }

  std::mutex mutex_;
  std::vector<span> spans_;
  std::size_t batches_ = 0;
  test_upstream server_;  // last: stopped first, while the rest is still there
};

// A ClientTrafficPolicy on Gateway "web" that traces to `port` as `service`.
std::string tracing_policy(std::uint16_t port, const std::string& service,
                           const std::string& sampling = "samplingRate: 100") {
  return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
         "metadata: {name: tracing}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
         "kind: Gateway, name: web}]\n  tracing:\n    " +
         sampling + "\n    serviceName: " + service +
         "\n    flushInterval: 50ms\n    provider: {type: OpenTelemetry, host: 127.0.0.1, "
         "port: " +
         std::to_string(port) + "}\n";
}

const span* find_span(const std::vector<span>& spans, const std::string& service, int kind) {
  for (const span& s : spans)
    if (s.service == service && s.kind == kind) return &s;
  return nullptr;
}

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

    // A port nothing listens on: every batch fails, every request is served.
    std::uint16_t dead = 0;
    {
      test_upstream gone;
      dead = gone.port();
    }
    running_gateway gw(load_on_loopback(app_route_yaml(app.port()) + tracing_policy(dead, "gw")));
    for (int i = 0; i < 50; ++i)
      REQUIRE(get(gw.port(), "/").status == 200);
    CHECK(eventually([&] {
      return metric(gw.server(), "gateway_tracing_spans_total{result=\"failed\"}") == 100;
    }));
    CHECK(metric(gw.server(), "gateway_tracing_spans_total{result=\"exported\"}") == 0);
    CHECK(metric(gw.server(), "gateway_tracing_spans_total{result=\"dropped\"}") == 0);
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
