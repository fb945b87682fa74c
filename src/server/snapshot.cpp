#include "server/snapshot.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <unordered_set>

#include "pipeline/listener_choice.hpp"
#include "pipeline/route_filters.hpp"
#include "router/host_name.hpp"
#include "server/target_url.hpp"
#include "upstream/dns_message.hpp"
#include "upstream/dns_resolver.hpp"
#include "upstream/primes.hpp"

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

// The handshake settings of a group whose listeners are HTTPS. Listeners on
// one port are all HTTPS or all plain: the first bytes cannot tell them apart.
void build_group_tls(snapshot& snap, socket_group& g, std::vector<std::string>& problems) {
  std::vector<tls::server_listener> members;
  std::size_t plain = 0, default_member = 0;
  for (std::size_t i = 0; i < g.members.size(); ++i) {
    const listener_config& lc = snap.listeners[g.members[i]].config;
    if (!lc.tls) {
      ++plain;
      continue;
    }
    members.push_back({lc.name, lc.hostname, &*lc.tls});
    // Clients whose SNI names no listener get the catch-all's certificate,
    // else the first declared listener's.
    const std::size_t d = g.members[default_member];
    if (!snap.listeners[d].config.hostname.empty() && (lc.hostname.empty() || g.members[i] < d))
      default_member = i;
  }
  if (members.empty()) return;
  if (plain) {
    problems.push_back(fmt::format(
        "listeners on {} mix HTTPS and plain HTTP: one port serves one or the other", g.key));
    return;
  }
  try {
    g.tls = std::make_shared<const tls::server_context>(members, default_member);
    for (std::size_t i = 0; i < g.members.size(); ++i)
      snap.listeners[g.members[i]].tls_validation = g.tls->validation_id(i);
  } catch (const error& e) {
    problems.push_back(e.what());
  }
}

void group_listeners(snapshot& snap, std::vector<std::string>& problems) {
  std::unordered_map<std::string, std::size_t> by_key;
  for (std::size_t i = 0; i < snap.listeners.size(); ++i) {
    const listener_config& lc = snap.listeners[i].config;
    std::string key = lc.bind_port == 0 ? "listener " + lc.name
                                        : lc.bind_address + ":" + std::to_string(lc.bind_port);
    auto [it, added] = by_key.emplace(key, snap.groups.size());
    if (added) snap.groups.push_back({0, key, lc.bind_address, lc.bind_port, {}});
    socket_group& g = snap.groups[it->second];
    for (std::size_t other : g.members) {
      const listener_config& oc = snap.listeners[other].config;
      if (oc.hostname == lc.hostname)
        problems.push_back(
            fmt::format("listeners '{}' and '{}' both bind {} with the same hostname '{}': give "
                        "them distinct hostnames or bind one elsewhere",
                        oc.name, lc.name, key, lc.hostname));
    }
    g.members.push_back(i);
  }
  for (auto& g : snap.groups) {
    order_listeners(g.members, [&](std::size_t i) -> std::string_view {
      return snap.listeners[i].config.hostname;
    });
    // The first bytes of a connection must say which listener it is for:
    // HTTP and connection listeners, or passthrough and terminated TLS, do
    // not share a port; plain TCP ones cannot share it at all.
    const listener_config& first = snap.listeners[g.members.front()].config;
    g.protocol = first.protocol;
    for (std::size_t m : g.members) {
      const listener_limits& limits = snap.listeners[m].config.limits;
      if (limits.max_connections &&
          (!g.max_connections || limits.max_connections < g.max_connections)) {
        g.max_connections = limits.max_connections;
        g.close_delay = limits.connection_close_delay;
      }
    }
    bool mixed = false;  // HTTP with HTTPS is build_group_tls's to say
    for (std::size_t m : g.members) {
      const listener_config& lc = snap.listeners[m].config;
      mixed =
          mixed || lc.protocol != first.protocol ||
          (g.protocol != listener_protocol::http && lc.tls.has_value() != first.tls.has_value());
    }
    if (mixed) {
      problems.push_back(
          fmt::format("listeners on {}{}", g.key,
                      " mix protocols (HTTP, TCP, TLS passthrough or terminated): one port "
                      "carries one"));
      continue;
    }
    if (g.protocol == listener_protocol::tcp && !first.tls && g.members.size() > 1) {
      problems.push_back(
          fmt::format("listeners '{}' and '{}' both bind {} for TCP: nothing in a plain TCP "
                      "connection tells them apart",
                      first.name, snap.listeners[g.members[1]].config.name, g.key));
      continue;
    }
    build_group_tls(snap, g, problems);
  }
}

// What a listener of protocol `p` may carry; a problem for each route it
// may not, and for connection routes' rules with request features.
void check_route_kinds(const listener_config& l, const std::string& where,
                       std::vector<std::string>& problems) {
  if (l.protocol == listener_protocol::tls_passthrough && l.tls)
    problems.push_back(
        fmt::format("{}: a TLS passthrough listener has no TLS settings of its own", where));
  for (const route& r : l.routes) {
    const bool connection = r.kind == route_kind::tcp || r.kind == route_kind::tls;
    const bool fits = l.protocol == listener_protocol::http ? !connection
                      : l.protocol == listener_protocol::tls_passthrough
                          ? r.kind == route_kind::tls
                          : r.kind == route_kind::tcp || (r.kind == route_kind::tls && l.tls);
    const std::string what =
        where + ": " + route_kind_name(r.kind) + " " + r.namespace_name + "/" + r.name;
    if (!fits) {
      problems.push_back(fmt::format("{} cannot attach to this listener's protocol", what));
      continue;
    }
    if (!connection) continue;
    if (r.rules.size() != 1)
      problems.push_back(
          fmt::format("{}: has one rule (nothing in a connection chooses between rules)", what));
    for (const route_rule& rule : r.rules)
      if (!rule.matches.empty() || !rule.filters.empty() || !rule.mirrors.empty() ||
          rule.redirect || rule.rewrite || !rule.backend_variants.empty())
        problems.push_back(
            fmt::format("{}: a connection's rule has backends only (no matches, filters, mirrors, "
                        "redirects or rewrites)",
                        what));
  }
}

// The balancer, health check, outlier detection and limits of a cluster.
void check_upstream_settings(const cluster_config& c, const std::string& where,
                             std::vector<std::string>& problems) {
  const auto& lb = c.load_balancer;
  if (lb.policy == lb_policy::maglev && (!is_prime(lb.table_size) || lb.table_size > 5000011))
    problems.push_back(fmt::format("{}: maglev table size {} must be a prime up to 5000011", where,
                                   lb.table_size));
  if (lb.policy == lb_policy::maglev && lb.table_size < c.endpoints.size())
    problems.push_back(
        fmt::format("{}: maglev table size is smaller than the number of endpoints", where));
  if (lb.policy == lb_policy::ring_hash && (lb.ring_points == 0 || lb.ring_points > 65536))
    problems.push_back(fmt::format("{}: ring points must be 1..65536", where));
  if ((lb.policy == lb_policy::ring_hash || lb.policy == lb_policy::maglev) &&
      lb.hash.source != hash_source::source_ip && lb.hash.name.empty())
    problems.push_back(fmt::format("{}: a header or cookie hash needs a name", where));
  if (lb.panic_threshold_percent > 100)
    problems.push_back(fmt::format("{}: panic threshold must be 0..100 percent", where));
  if (lb.slow_start_min_percent > 100)
    problems.push_back(fmt::format("{}: slow start minimum must be 0..100 percent", where));
  const auto& hc = c.health_check;
  if (hc.type != health_check_type::none) {
    if (hc.interval.count() <= 0)
      problems.push_back(fmt::format("{}: health check interval must be > 0", where));
    if (hc.timeout.count() <= 0)
      problems.push_back(fmt::format("{}: health check timeout must be > 0", where));
    if (hc.unhealthy_threshold == 0 || hc.healthy_threshold == 0)
      problems.push_back(fmt::format("{}: health check thresholds must be >= 1", where));
    if (hc.type == health_check_type::grpc && c.protocol != upstream_protocol::http2)
      problems.push_back(where +
                         ": a gRPC health check needs a cluster that speaks HTTP/2 (appProtocol "
                         "kubernetes.io/h2c or h2, or a GRPCRoute's backend)");
    if (hc.type == health_check_type::http) {
      if (hc.path.empty() || hc.path.front() != '/' ||
          hc.path.find_first_of(" \r\n") != std::string::npos)
        problems.push_back(fmt::format(
            "{}: health check path '{}' must start with / and have no spaces", where, hc.path));
      if (hc.method.empty() || hc.method.find_first_of(" \r\n") != std::string::npos)
        problems.push_back(
            fmt::format("{}: health check method '{}' is invalid", where, hc.method));
      if (hc.host.find_first_of(" \r\n") != std::string::npos)
        problems.push_back(fmt::format("{}: health check host is invalid", where));
      for (const auto& [lo, hi] : hc.expected_statuses)
        if (lo < 100 || hi > 599 || lo > hi)
          problems.push_back(
              fmt::format("{}: expected status range {}-{} is invalid", where, lo, hi));
    }
  }
  const auto& od = c.outlier_detection;
  if (od.enabled()) {
    if (od.base_ejection_time.count() <= 0)
      problems.push_back(fmt::format("{}: base ejection time must be > 0", where));
    if (od.max_ejection_percent > 100)
      problems.push_back(fmt::format("{}: max ejection percent must be 0..100", where));
  }
  for (const auto& r : c.dns.resolvers) {
    try {
      parse_nameserver(r);
    } catch (const error& e) {
      problems.push_back(fmt::format("{}: DNS {}", where, e.what()));
    }
  }
  if (c.dns.refresh.count() <= 0 || c.dns.timeout.count() <= 0)
    problems.push_back(fmt::format("{}: DNS refresh and timeout must be > 0", where));
  const auto& cb = c.circuit_breakers;
  if (cb.max_connections == 0 || cb.max_requests == 0)
    problems.push_back(fmt::format("{}: max connections and max requests must be >= 1", where));
  if (cb.retry_budget_percent > 100)
    problems.push_back(fmt::format("{}: retry budget must be 0..100 percent", where));
  if (c.buffer_limit < 1024 || c.buffer_limit > (std::size_t{1} << 30))
    problems.push_back(fmt::format("{}: buffer_limit must be 1 KiB to 1 GiB", where));
  if (c.max_response_head < 64 || c.max_response_header_count == 0)
    problems.push_back(fmt::format(
        "{}: max_response_head must be >= 64 and max_response_header_count >= 1", where));
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
      problems.push_back(fmt::format("{}: defined twice", where));
    cluster_runtime rt;
    for (std::size_t i = 0; i < c.endpoints.size(); ++i) {
      const auto& e = c.endpoints[i];
      std::string ew = where + " endpoint " + std::to_string(i);
      boost::system::error_code ec;
      asio::ip::make_address(e.address, ec);
      if (ec && !dns::dns_name(e.address))
        problems.push_back(
            fmt::format("{}: '{}' is neither an IP address nor a DNS name", ew, e.address));
      if (e.port == 0) problems.push_back(fmt::format("{}: port 0", ew));
      if (e.weight == 0) problems.push_back(fmt::format("{}: weight 0", ew));
    }
    if (c.connect_timeout.count() <= 0)
      problems.push_back(fmt::format("{}: connect_timeout must be > 0", where));
    check_upstream_settings(c, where, problems);
    if (c.tls.enabled) {
      try {
        // HTTP/2 over TLS is agreed by ALPN; the cluster's list is for HTTP/1.1.
        upstream_tls_config t = c.tls;
        if (c.protocol == upstream_protocol::http2) t.alpn = {"h2"};
        rt.tls = std::make_shared<const tls::client_context>(t);
      } catch (const error& e) {
        problems.push_back(fmt::format("{}: {}", where, e.what()));
      }
    }
    rt.config = std::move(c);
    snap->clusters.push_back(std::move(rt));
  }

  std::unordered_set<std::string> listener_names;
  // The first listener's that traces (a copy: the listeners move into the snapshot).
  std::optional<tracing_config> traced;
  for (auto& l : config.listeners) {
    std::string where = "listener '" + l.name + "'";
    if (!listener_names.insert(l.name).second)
      problems.push_back(fmt::format("{}: defined twice", where));
    if (const auto& t = l.tracing) {
      // One exporter serves the process: every listener that traces names
      // the same collector and batching (each may sample its own share).
      if (t->sampling_denominator == 0 || t->sampling_numerator > t->sampling_denominator)
        problems.push_back(
            fmt::format("{}: tracing sampling must be a fraction from 0 to 1", where));
      if (t->flush_interval < std::chrono::milliseconds(10) || t->max_queued_bytes < 4096)
        problems.push_back(where +
                           ": tracing flush_interval must be >= 10ms and "
                           "max_queued_bytes >= 4096");
      try {
        const parsed_url u = parse_url(t->collector, where + ": tracing collector");
        if (!u.absolute)
          problems.push_back(
              fmt::format("{}: tracing collector: the URL must be http://HOST:PORT/PATH", where));
      } catch (const error& e) {
        problems.push_back(e.what());
      }
      if (!traced) {
        traced = *t;
      } else if (t->collector != traced->collector || t->service_name != traced->service_name ||
                 t->flush_interval != traced->flush_interval ||
                 t->max_queued_bytes != traced->max_queued_bytes) {
        problems.push_back(where +
                           ": tracing names another collector or batching than an "
                           "earlier listener; one process exports to one collector");
      }
    }
    boost::system::error_code ec;
    asio::ip::make_address(l.bind_address, ec);
    if (ec)
      problems.push_back(
          fmt::format("{}: bind address '{}' is not an IP address", where, l.bind_address));
    if (l.limits.max_request_line == 0 || l.limits.max_request_head < l.limits.max_request_line)
      problems.push_back(
          fmt::format("{}: max_request_head must be >= max_request_line > 0", where));
    if (l.limits.max_header_count == 0)
      problems.push_back(fmt::format("{}: max_header_count must be >= 1", where));
    if (l.limits.buffer_limit < 1024 || l.limits.buffer_limit > (std::size_t{1} << 30))
      problems.push_back(fmt::format("{}: buffer_limit must be 1 KiB to 1 GiB", where));
    using ms = std::chrono::milliseconds;
    if (l.limits.header_timeout <= ms(0) || l.limits.idle_timeout <= ms(0) ||
        l.limits.request_timeout <= ms(0) || l.limits.stream_idle_timeout <= ms(0) ||
        l.limits.connection_close_delay < ms(0) || l.limits.request_received_timeout < ms(0))
      problems.push_back(where +
                         ": listener timeouts must be > 0 (the close delay and the request "
                         "received timeout >= 0)");
    constexpr std::uint32_t max_window = 0x7fffffff;
    if (l.http2.max_concurrent_streams == 0 || l.http2.max_concurrent_streams > max_window)
      problems.push_back(
          fmt::format("{}: http2.max_concurrent_streams must be 1 to 2^31-1", where));
    if (l.http2.initial_stream_window < 65535 || l.http2.initial_stream_window > max_window ||
        l.http2.initial_connection_window < 65535 || l.http2.initial_connection_window > max_window)
      problems.push_back(fmt::format("{}: http2 windows must be 65535 to 2^31-1 bytes", where));
    // A listener hostname narrows what its routes serve, as in the Gateway API;
    // the loader has done it for YAML, a config built in code gets it here.
    if (!l.hostname.empty()) {
      l.hostname = lowercase_host(l.hostname);
      std::vector<std::string> hosts;
      for (route& r : l.routes) {
        for (auto& h : r.hostnames)
          h = lowercase_host(h);
        if (!intersect_hostnames(l.hostname, r.hostnames, hosts))
          problems.push_back(fmt::format(
              "{}: route {}/{}: none of its hostnames is within the listener hostname '{}'", where,
              r.namespace_name, r.name, l.hostname));
        r.hostnames = std::move(hosts);
      }
    }
    for (const filter_ref& f : l.filters)
      if (!f.factory)
        problems.push_back(fmt::format("{}: filter '{}' has no factory", where, f.name));
    check_route_kinds(l, where, problems);
    listener_runtime lr;
    std::error_code rec;
    std::string message;
    lr.table = router::compile(std::move(l.routes), rec, message);
    l.routes.clear();
    lr.config = std::move(l);
    if (!lr.table) {
      problems.push_back(fmt::format("{}: {}", where, message));
      snap->listeners.push_back(std::move(lr));
      continue;
    }
    for (const route& r : lr.table->routes()) {
      for (std::size_t i = 0; i < r.rules.size(); ++i) {
        const std::string where_rule =
            where + ": route " + r.namespace_name + "/" + r.name + " rule " + std::to_string(i);
        // The rule, then each of its backend variants (backendRefs[].filters).
        for (std::size_t v = 0; v <= r.rules[i].backend_variants.size(); ++v) {
          const route_rule& rule = v == 0 ? r.rules[i] : r.rules[i].backend_variants[v - 1];
          resolved_rule rr;
          const std::string rule_where =
              v == 0 ? where_rule : where_rule + " backendRef " + std::to_string(v - 1);
          for (auto& p : filter_problems(rule))
            problems.push_back(fmt::format("{}: {}", rule_where, p));
          for (const filter_ref& f : rule.filters)
            if (!f.factory)
              problems.push_back(fmt::format("{}: filter '{}' has no factory", rule_where, f.name));
          for (const auto& b : rule.backends) {
            std::size_t cluster = invalid_backend;
            if (b.invalid.empty()) {
              auto it = cluster_index.find(b.cluster);
              if (it == cluster_index.end()) {
                problems.push_back(fmt::format("{}: unknown cluster '{}'", rule_where, b.cluster));
                continue;
              }
              cluster = it->second;
              if (lr.config.protocol == listener_protocol::tls_passthrough &&
                  snap->clusters[cluster].config.tls.enabled)
                problems.push_back(
                    fmt::format("{}: cluster '{}{}", rule_where, b.cluster,
                                "' originates TLS, but this listener passes the client's TLS "
                                "through: it would be wrapped twice (drop its BackendTLSPolicy, "
                                "or terminate on a TLS listener in mode Terminate)"));
            }
            if (b.weight == 0) continue;
            rr.backends.push_back({cluster, b.weight});
            rr.total_weight += b.weight;
          }
          const bool regex_rewrite =
              (rule.rewrite && rule.rewrite->path.type == path_rewrite_type::regex) ||
              (rule.redirect && rule.redirect->path.type == path_rewrite_type::regex);
          if (regex_rewrite && rule.matches.size() == 1) {
            auto re = std::make_shared<const re2::RE2>(rule.matches[0].path.value);
            std::string why;
            const path_rewrite& p = rule.rewrite ? rule.rewrite->path : rule.redirect->path;
            if (!re->ok())
              problems.push_back(fmt::format("{}: {}", rule_where, re->error()));
            else if (!re->CheckRewriteString(p.value, &why))
              problems.push_back(fmt::format("{}: rewrite '{}': {}", rule_where, p.value, why));
            rr.path_regex = std::move(re);
          }
          for (const auto& m : rule.mirrors) {
            auto it = cluster_index.find(m.cluster);
            if (it == cluster_index.end()) {
              problems.push_back(
                  fmt::format("{}: mirror to unknown cluster '{}'", rule_where, m.cluster));
              continue;
            }
            rr.mirrors.push_back({it->second, m.numerator, m.denominator});
          }
          lr.rules.emplace(&rule, std::move(rr));
        }
      }
    }
    snap->listeners.push_back(std::move(lr));
  }
  group_listeners(*snap, problems);
  if (!problems.empty()) throw error(errc::invalid_config, join(problems));
  return snap;
}

void snapshot::inherit_identities(const snapshot* previous, std::uint32_t& next_identity) {
  std::unordered_map<std::string_view, std::uint32_t> group_ids;
  std::unordered_map<std::string_view, const cluster_runtime*> old_clusters;
  if (previous) {
    for (const auto& p : previous->groups)
      group_ids.emplace(p.key, p.id);
    for (const auto& p : previous->clusters)
      old_clusters.emplace(p.config.name, &p);
  }
  for (auto& g : groups) {
    auto it = group_ids.find(g.key);
    g.id = it != group_ids.end() ? it->second : ++next_identity;
    const socket_group* old = previous ? previous->find_group(g.id) : nullptr;
    g.open = old && old->open ? old->open : std::make_shared<std::atomic<std::size_t>>(0);
    // Unchanged TLS settings and certificates: keep the context, and with it
    // the session cache and ticket keys, so clients still resume.
    if (g.tls && old && old->tls && old->tls->definition() == g.tls->definition()) g.tls = old->tls;
  }
  for (auto& c : clusters) {
    auto it = old_clusters.find(c.config.name);
    const bool same = it != old_clusters.end() && it->second->config == c.config;
    c.key = same ? it->second->key : ++next_identity;
    if (same) {
      c.state = it->second->state;
    } else {
      c.state = std::make_shared<cluster_state>(c.config);
      c.state->tls = c.tls;
    }
  }
}

void snapshot::assign_series(series_registry& registry) {
  for (auto& l : listeners) {
    l.unrouted_series = registry.id(l.config.name, "", "");
    if (!l.table) continue;
    for (const route& r : l.table->routes()) {
      const std::string route_name = r.namespace_name + "/" + r.name;
      auto assign = [&](const route_rule& rule) {
        auto it = l.rules.find(&rule);
        if (it == l.rules.end()) return;
        resolved_rule& rr = it->second;
        rr.local_series = registry.id(l.config.name, route_name, "");
        for (auto& b : rr.backends)
          b.series = b.cluster == invalid_backend
                         ? rr.local_series
                         : registry.id(l.config.name, route_name, clusters[b.cluster].config.name);
      };
      for (const route_rule& rule : r.rules) {
        assign(rule);
        for (const route_rule& variant : rule.backend_variants)
          assign(variant);
      }
    }
  }
  series_count = static_cast<std::uint32_t>(registry.labels().size());
}

const socket_group* snapshot::find_group(std::uint32_t id) const noexcept {
  for (const auto& g : groups)
    if (g.id == id) return &g;
  return nullptr;
}

const listener_runtime* snapshot::select(const socket_group& group,
                                         std::string_view host) const noexcept {
  const std::size_t* i = choose_listener(
      group.members, host,
      [&](std::size_t m) -> std::string_view { return listeners[m].config.hostname; });
  return i ? &listeners[*i] : nullptr;
}

void validate(const gateway_config& config) {
  snapshot::build(config);
}

void require_no_warnings(const gateway_config& config) {
  if (config.warnings.empty()) return;
  throw error(errc::invalid_config,
              fmt::format("strict mode: the config has warnings:\n{}", join(config.warnings)));
}

}  // namespace gateway
