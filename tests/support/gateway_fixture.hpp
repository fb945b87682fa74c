#pragma once
// An in-process gateway on 127.0.0.1 with an ephemeral port, for tests.
#include <gateway/gateway.hpp>

#include <memory>
#include <string>
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
  std::uint16_t port() const { return server_->port(); }
  gateway::server& server() { return *server_; }

 private:
  std::unique_ptr<gateway::server> server_;
};

}  // namespace gwtest
