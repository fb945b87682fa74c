#pragma once
// An OTLP/HTTP collector for tests: a test upstream that keeps every span of
// every JSON batch POSTed to /v1/traces, decoded; and the ClientTrafficPolicy
// that makes Gateway "web" trace to it.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

namespace gwtest {

// One span as the collector got it.
struct span {
  std::string service, trace, id, parent, name;
  int kind = 0;
  std::map<std::string, std::string> attributes;  // numbers as their decimal text
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> events;
  int status = 0;  // 2: error
};

inline std::map<std::string, std::string> attributes_of(const boost::json::value& list) {
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
    eventually([&] { return spans().size() >= n; }, std::chrono::seconds(10));
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
inline std::string tracing_policy(std::uint16_t port, const std::string& service,
                                  const std::string& sampling = "samplingRate: 100") {
  return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
         "metadata: {name: tracing}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
         "kind: Gateway, name: web}]\n  tracing:\n    " +
         sampling + "\n    serviceName: " + service +
         "\n    flushInterval: 50ms\n    provider: {type: OpenTelemetry, host: 127.0.0.1, "
         "port: " +
         std::to_string(port) + "}\n";
}

// The first span of `service` of `kind` (2 server, 3 client), or null.
inline const span* find_span(const std::vector<span>& spans, const std::string& service, int kind) {
  for (const span& s : spans)
    if (s.service == service && s.kind == kind) return &s;
  return nullptr;
}

}  // namespace gwtest
