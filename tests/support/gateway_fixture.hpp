#pragma once
// An in-process gateway on 127.0.0.1 with an ephemeral port, for tests.
#include <gateway/gateway.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gwtest {

// A cluster named `name` with one endpoint per port on 127.0.0.1.
inline gateway::cluster_config cluster(const std::string& name, std::vector<std::uint16_t> ports) {
  gateway::cluster_config c;
  c.name = name;
  for (auto p : ports)
    c.endpoints.push_back({"127.0.0.1", p, 1});
  return c;
}

// One listener on 127.0.0.1:0 sending every request to cluster "up".
inline gateway::gateway_config proxy_config(std::vector<std::uint16_t> upstream_ports) {
  gateway::gateway_config cfg;
  gateway::listener_config l;
  l.name = "test";
  l.bind_address = "127.0.0.1";
  l.bind_port = 0;
  l.port = 80;
  gateway::route r;
  r.name = "all";
  gateway::route_rule rule;
  rule.backends.push_back({"up", 1});
  r.rules.push_back(rule);
  l.routes.push_back(r);
  cfg.listeners.push_back(l);
  cfg.clusters.push_back(cluster("up", std::move(upstream_ports)));
  return cfg;
}

// YAML for a Gateway "web" with one HTTP listener on port 80 (all namespaces
// default), for tests that write their routes as manifests.
inline const std::string gateway_yaml = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
)";

// YAML for a Service `name` (port 80, named http) whose one endpoint is
// 127.0.0.1:`port`; starts with "---".
inline std::string service_yaml(const std::string& name, std::uint16_t port) {
  return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec: {ports: [{name: http, port: 80}]}\n---\napiVersion: discovery.k8s.io/v1\n"
         "kind: EndpointSlice\nmetadata: {name: " +
         name + ", labels: {kubernetes.io/service-name: " + name +
         "}}\naddressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]\nports: [{name: http, "
         "port: " +
         std::to_string(port) + "}]\n";
}

// YAML for gateway_yaml, a Service "app" at 127.0.0.1:`port`, and an
// HTTPRoute "app" on it whose first rule sends everything there; `rule_lines`
// continue that rule (its filters, say) or add rules. Policies and filters can
// be appended as more documents.
inline std::string app_route_yaml(std::uint16_t port, const std::string& rule_lines = "") {
  return gateway_yaml + service_yaml("app", port) +
         "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: "
         "app}\nspec:\n  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: app, "
         "port: 80}]\n" +
         rule_lines;
}

// Loads `yaml` and binds every listener on 127.0.0.1, each on its own ephemeral port.
inline gateway::gateway_config load_on_loopback(const std::string& yaml) {
  auto cfg = gateway::load_yaml(yaml, "test.yaml");
  for (auto& l : cfg.listeners) {
    l.bind_address = "127.0.0.1";
    l.bind_port = 0;
  }
  return cfg;
}

// Started on construction, stopped on destruction.
class running_gateway {
 public:
  explicit running_gateway(gateway::gateway_config cfg, unsigned threads = 1,
                           gateway::log_level level = gateway::log_level::error) {
    gateway::server_options o;
    o.threads = threads;
    o.level = level;
    server_ = std::make_unique<gateway::server>(std::move(cfg), std::move(o));
    server_->start();
  }
  // With the host's options (threads, limits), logging errors only unless they say otherwise.
  running_gateway(gateway::gateway_config cfg, gateway::server_options o)
      : server_(std::make_unique<gateway::server>(std::move(cfg), std::move(o))) {
    server_->start();
  }
  std::uint16_t port() const { return server_->port(); }
  gateway::server& server() { return *server_; }

 private:
  std::unique_ptr<gateway::server> server_;
};

// Log lines kept for a test to read (a server_options sink).
struct captured_log {
  std::mutex mutex;
  std::vector<std::string> lines;
  gateway::log_sink sink() {
    return [this](gateway::log_level, std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(line);
    };
  }
  bool has(const std::string& text) { return count(text) > 0; }
  // How many lines hold `text`.
  std::size_t count(const std::string& text) {
    std::lock_guard lock(mutex);
    std::size_t n = 0;
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos) ++n;
    return n;
  }
};

// A started server logging at info into `log`.
inline std::unique_ptr<gateway::server> start_logged(gateway::gateway_config cfg, captured_log& log,
                                                     unsigned threads = 1) {
  gateway::server_options o;
  o.threads = threads;
  o.level = gateway::log_level::info;
  o.sink = log.sink();
  auto s = std::make_unique<gateway::server>(std::move(cfg), std::move(o));
  s->start();
  return s;
}

// The value of the metric line that starts with `series` ("name{labels}"), or -1.
inline long long metric(gateway::server& s, const std::string& series) {
  const std::string text = s.stats_text();
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + series.size() + 2));
}

// The threads this process has now.
inline std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// Polls `done` every 10 ms for up to `limit`; its last answer.
template <class F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// What the file at `path` holds once it has `text` (polled as eventually()
// does: an access log is written in batches), or when the wait ends.
inline std::string file_once_it_has(const std::string& path, const std::string& text) {
  std::string content;
  eventually([&] {
    std::ifstream in(path);
    content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return content.find(text) != std::string::npos;
  });
  return content;
}

}  // namespace gwtest
