#include "server/snapshot.hpp"

#include <gateway/error.hpp>

#include <unordered_set>

namespace gateway {
namespace {

std::string join(const std::vector<std::string>& problems) {
  std::string all;
  for (const auto& p : problems) {
    if (!all.empty()) all += "\n";
    all += p;
  }
  return all;
}

}  // namespace

std::shared_ptr<snapshot> snapshot::build(gateway_config config) {
  auto snap = std::make_shared<snapshot>();
  std::vector<std::string> problems;
  std::unordered_map<std::string, std::size_t> cluster_index;

  for (auto& c : config.clusters) {
    std::string where = "cluster '" + c.name + "'";
    if (c.name.empty()) problems.push_back("a cluster has no name");
    if (!cluster_index.emplace(c.name, snap->clusters.size()).second)
      problems.push_back(where + ": defined twice");
    cluster_runtime rt;
    for (std::size_t i = 0; i < c.endpoints.size(); ++i) {
      const auto& e = c.endpoints[i];
      std::string ew = where + " endpoint " + std::to_string(i);
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(e.address, ec);
      if (ec) problems.push_back(ew + ": '" + e.address + "' is not a numeric IP address");
      if (e.port == 0) problems.push_back(ew + ": port 0");
      if (e.weight == 0) problems.push_back(ew + ": weight 0");
      rt.addresses.emplace_back(addr, e.port);
      rt.weights.push_back(e.weight == 0 ? 1 : e.weight);
    }
    if (c.connect_timeout.count() <= 0) problems.push_back(where + ": connect_timeout must be > 0");
    rt.config = std::move(c);
    snap->clusters.push_back(std::move(rt));
  }

  std::unordered_set<std::string> listener_names;
  for (auto& l : config.listeners) {
    std::string where = "listener '" + l.name + "'";
    if (!listener_names.insert(l.name).second) problems.push_back(where + ": defined twice");
    boost::system::error_code ec;
    asio::ip::make_address(l.bind_address, ec);
    if (ec)
      problems.push_back(where + ": bind address '" + l.bind_address + "' is not an IP address");
    if (l.limits.max_request_line == 0 || l.limits.max_request_head < l.limits.max_request_line)
      problems.push_back(where + ": max_request_head must be >= max_request_line > 0");
    listener_runtime lr;
    std::error_code rec;
    std::string message;
    lr.table = router::compile(std::move(l.routes), rec, message);
    l.routes.clear();
    lr.config = std::move(l);
    if (!lr.table) {
      problems.push_back(where + ": " + message);
      snap->listeners.push_back(std::move(lr));
      continue;
    }
    for (const route& r : lr.table->routes()) {
      for (std::size_t i = 0; i < r.rules.size(); ++i) {
        const route_rule& rule = r.rules[i];
        resolved_rule rr;
        for (const auto& b : rule.backends) {
          auto it = cluster_index.find(b.cluster);
          if (it == cluster_index.end()) {
            problems.push_back(where + ": route " + r.namespace_name + "/" + r.name + " rule " +
                               std::to_string(i) + ": unknown cluster '" + b.cluster + "'");
            continue;
          }
          if (b.weight == 0) continue;
          rr.backends.push_back({it->second, b.weight});
          rr.total_weight += b.weight;
        }
        lr.rules.emplace(&rule, std::move(rr));
      }
    }
    snap->listeners.push_back(std::move(lr));
  }
  if (!problems.empty()) throw error(errc::invalid_config, join(problems));
  return snap;
}

void snapshot::inherit_identities(const snapshot* previous, std::uint32_t& next_identity) {
  std::unordered_map<std::string_view, std::uint32_t> listener_ids;
  std::unordered_map<std::string_view, const cluster_runtime*> old_clusters;
  if (previous) {
    for (const auto& p : previous->listeners)
      listener_ids.emplace(p.config.name, p.id);
    for (const auto& p : previous->clusters)
      old_clusters.emplace(p.config.name, &p);
  }
  for (auto& l : listeners) {
    auto it = listener_ids.find(l.config.name);
    l.id = it != listener_ids.end() ? it->second : ++next_identity;
  }
  for (auto& c : clusters) {
    auto it = old_clusters.find(c.config.name);
    c.key = it != old_clusters.end() && it->second->config == c.config ? it->second->key
                                                                       : ++next_identity;
  }
}

const listener_runtime* snapshot::find_listener(std::uint32_t id) const noexcept {
  for (const auto& l : listeners)
    if (l.id == id) return &l;
  return nullptr;
}

void validate(const gateway_config& config) {
  snapshot::build(config);
}

}  // namespace gateway
