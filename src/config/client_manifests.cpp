// A client's config from YAML: the host's Services (and what describes how to
// reach them) become routes, one per Service port, on listeners that are
// never bound, so a call for http://SERVICE.NAMESPACE:PORT/ is routed and
// served by the same loader and pipeline as a proxied request. The host's
// text is loaded as written (its line numbers hold in messages); the routes
// are appended as documents of their own.
#include <gateway/client.hpp>
#include <gateway/error.hpp>
#include <gateway/filter.hpp>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/manifest_loader.hpp"
#include "config/yaml_documents.hpp"

namespace gateway {

namespace {

constexpr std::string_view client_gateway = "client";
constexpr std::string_view client_namespace = "gateway-client";

// What the host's documents may be in a client's config.
bool client_kind(const std::string& kind) {
  static const std::set<std::string> kinds = {
      "Service",          "EndpointSlice", "Backend",   "BackendTrafficPolicy",
      "BackendTLSPolicy", "Secret",        "ConfigMap", "ReferenceGrant",
      "Namespace"};
  return kinds.count(kind) != 0;
}

struct service_port {
  std::string name;  // may be empty
  int port = 0;
};

struct service {
  std::string ns, name;
  std::vector<service_port> ports;
  bool backend = false;  // an Envoy Gateway Backend: called on ports 80 and 443
};

std::string scalar(const YAML::Node& n, const char* key) {
  const YAML::Node v = n.IsMap() ? n[key] : YAML::Node();
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : std::string();
}

// The route for calls to an Envoy Gateway Backend: NAME.NAMESPACE on the
// listeners of ports 80 and 443 (its endpoints carry their own ports).
void backend_route(YAML::Emitter& out, const service& b) {
  out << YAML::BeginDoc << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "gateway.networking.k8s.io/v1";
  out << YAML::Key << "kind" << YAML::Value << "HTTPRoute";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "backend-" + b.name;
  out << YAML::Key << "namespace" << YAML::Value << b.ns;
  out << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << std::string(manifests::client_backend_annotation) << YAML::Value << b.name;
  out << YAML::EndMap << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "parentRefs" << YAML::Value << YAML::BeginSeq;
  for (const auto& p : b.ports) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << std::string(client_gateway);
    out << YAML::Key << "namespace" << YAML::Value << std::string(client_namespace);
    out << YAML::Key << "sectionName" << YAML::Value << "port-" + std::to_string(p.port);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "hostnames" << YAML::Value << YAML::BeginSeq << b.name + "." + b.ns
      << YAML::EndSeq;
  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "backendRefs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "group" << YAML::Value << "gateway.envoyproxy.io";
  out << YAML::Key << "kind" << YAML::Value << "Backend";
  out << YAML::Key << "name" << YAML::Value << b.name;
  out << YAML::EndMap << YAML::EndSeq << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap << YAML::EndMap;
}

// The documents that route calls to `services`.
std::string client_routes(const std::vector<service>& services) {
  std::set<int> ports;
  for (const auto& s : services)
    for (const auto& p : s.ports)
      ports.insert(p.port);
  YAML::Emitter out;
  out << YAML::BeginDoc << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "gateway.networking.k8s.io/v1";
  out << YAML::Key << "kind" << YAML::Value << "Gateway";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << std::string(client_gateway);
  out << YAML::Key << "namespace" << YAML::Value << std::string(client_namespace);
  out << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "gatewayClassName" << YAML::Value << "gateway-client";
  out << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
  for (int port : ports) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << "port-" + std::to_string(port);
    out << YAML::Key << "port" << YAML::Value << port;
    out << YAML::Key << "protocol" << YAML::Value << "HTTP";
    out << YAML::Key << "allowedRoutes" << YAML::Value << YAML::BeginMap << YAML::Key
        << "namespaces" << YAML::Value << YAML::BeginMap << YAML::Key << "from" << YAML::Value
        << "All" << YAML::EndMap << YAML::EndMap;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap << YAML::EndMap;

  for (const auto& s : services) {
    if (s.backend) {
      backend_route(out, s);
      continue;
    }
    for (const auto& p : s.ports) {
      out << YAML::BeginDoc << YAML::BeginMap;
      out << YAML::Key << "apiVersion" << YAML::Value << "gateway.networking.k8s.io/v1";
      out << YAML::Key << "kind" << YAML::Value << "HTTPRoute";
      out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "name" << YAML::Value << s.name + "-" + std::to_string(p.port);
      out << YAML::Key << "namespace" << YAML::Value << s.ns;
      out << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << std::string(manifests::client_service_annotation) << YAML::Value
          << s.name;
      out << YAML::Key << std::string(manifests::client_port_annotation) << YAML::Value << p.name;
      out << YAML::EndMap << YAML::EndMap;
      out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "parentRefs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
      out << YAML::Key << "name" << YAML::Value << std::string(client_gateway);
      out << YAML::Key << "namespace" << YAML::Value << std::string(client_namespace);
      out << YAML::Key << "sectionName" << YAML::Value << "port-" + std::to_string(p.port);
      out << YAML::EndMap << YAML::EndSeq;
      const std::string host = s.name + "." + s.ns;
      out << YAML::Key << "hostnames" << YAML::Value << YAML::BeginSeq << host << host + ".svc"
          << host + ".svc.cluster.local" << YAML::EndSeq;
      out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
      out << YAML::Key << "backendRefs" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
      out << YAML::Key << "name" << YAML::Value << s.name;
      out << YAML::Key << "port" << YAML::Value << p.port;
      out << YAML::EndMap << YAML::EndSeq << YAML::EndMap << YAML::EndSeq;
      out << YAML::EndMap << YAML::EndMap;
    }
  }
  return out.c_str();
}

}  // namespace

gateway_config load_client_yaml(std::string_view text, std::string_view source) {
  std::vector<config_issue> issues;
  std::vector<YAML::Node> docs;
  try {
    docs = yaml_config::load_documents(text);
  } catch (const YAML::Exception& e) {
    issues.push_back({"YAML", "", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg});
    throw error(errc::invalid_config, manifests::describe(issues, source));
  }
  std::vector<service> services;
  std::size_t index = 0;
  for (const YAML::Node& d : docs) {
    ++index;
    if (!d.IsMap()) continue;  // the loader says what is wrong with it
    const std::string kind = scalar(d, "kind");
    const YAML::Node md = d["metadata"];
    const std::string name = scalar(md, "name");
    const std::string ns = scalar(md, "namespace").empty() ? "default" : scalar(md, "namespace");
    if (!kind.empty() && !client_kind(kind)) {
      issues.push_back(
          {"document " + std::to_string(index) + " (" + kind + " " + ns + "/" + name + ")", "kind",
           d["kind"].Mark().line + 1,
           "a client's config has no " + kind +
               ": it holds Service, EndpointSlice, Backend, BackendTrafficPolicy (targeting "
               "Services and Backends), BackendTLSPolicy, Secret, ConfigMap, ReferenceGrant and "
               "Namespace documents; the client routes calls by Service or Backend"});
      continue;
    }
    if (kind == "Backend" && !name.empty()) {
      services.push_back({ns, name, {{"http", 80}, {"https", 443}}, true});
      continue;
    }
    if (kind != "Service" || name.empty()) continue;
    service s{ns, name, {}, false};
    const YAML::Node spec = d["spec"];
    const YAML::Node ports = spec.IsMap() ? spec["ports"] : YAML::Node();
    if (ports.IsSequence())
      for (const YAML::Node& p : ports) {
        int number = 0;
        try {
          number = p.IsMap() && p["port"].IsScalar() ? p["port"].as<int>() : 0;
        } catch (const YAML::Exception&) {
          number = 0;  // the loader reports the port
        }
        if (number > 0 && number < 65536) s.ports.push_back({scalar(p, "name"), number});
      }
    if (!s.ports.empty()) services.push_back(std::move(s));
  }
  // A Service and a Backend of one name would answer to the same host name.
  std::set<std::string> names;
  for (const auto& s : services)
    if (!names.insert(s.ns + "/" + s.name).second)
      issues.push_back({(s.backend ? "Backend " : "Service ") + s.ns + "/" + s.name,
                        "metadata.name", 0,
                        "another Service or Backend is named " + s.ns + "/" + s.name +
                            ": calls to " + s.name + "." + s.ns + " could mean either"});
  if (!issues.empty()) throw error(errc::invalid_config, manifests::describe(issues, source));

  std::string all(text);
  if (!services.empty()) all.append("\n").append(client_routes(services)).append("\n");
  std::error_code ec;
  gateway_config out = manifests::load_manifests(all, filter_registry::builtin(), true, ec, issues);
  if (ec) throw error(errc::invalid_config, manifests::describe(issues, source));
  if (services.empty())
    throw error(
        errc::invalid_config,
        fmt::format("{}: a client's config needs at least one Service with ports, or a Backend",
                    source));
  return out;
}

gateway_config load_client_yaml_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw error(errc::invalid_config,
                fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return load_client_yaml(text.str(), path);
}

gateway_config client_config(std::vector<client_target> targets) {
  gateway_config cfg;
  std::set<std::string> targets_seen, clusters_seen;
  for (client_target& t : targets) {
    if (t.name.empty() ||
        t.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos)
      throw error(errc::invalid_config,
                  fmt::format("client_config: target '{}' must be a host name (lower-case letters, "
                              "digits, '-' and '.')",
                              t.name));
    if (t.port == 0)
      throw error(errc::invalid_config,
                  fmt::format("client_config: target '{}' has port 0", t.name));
    if (!targets_seen.insert(t.name + ":" + std::to_string(t.port)).second)
      throw error(errc::invalid_config,
                  fmt::format("client_config: target '{}' port {} is given twice", t.name, t.port));
    if (t.cluster.name.empty()) t.cluster.name = t.name + ":" + std::to_string(t.port);
    if (!clusters_seen.insert(t.cluster.name).second)
      throw error(errc::invalid_config,
                  fmt::format("client_config: two targets use cluster name '{}'", t.cluster.name));
    const std::string listener = "client/port-" + std::to_string(t.port);
    auto l = std::find_if(cfg.listeners.begin(), cfg.listeners.end(),
                          [&](const listener_config& c) { return c.name == listener; });
    if (l == cfg.listeners.end()) {
      listener_config c;
      c.name = listener;
      c.bind_address = "127.0.0.1";
      c.bind_port = c.port = t.port;
      cfg.listeners.push_back(std::move(c));
      l = cfg.listeners.end() - 1;
    }
    route r;
    r.namespace_name = std::string(client_namespace);
    r.name = t.name + "-" + std::to_string(t.port);
    r.hostnames = {t.name};
    r.creation_order = static_cast<std::int64_t>(l->routes.size());
    route_rule rule;
    rule.backends.push_back({t.cluster.name, 1, ""});
    rule.retry = std::move(t.retry);
    rule.request_timeout = t.request_timeout;
    rule.backend_request_timeout = t.try_timeout;
    r.rules.push_back(std::move(rule));
    l->routes.push_back(std::move(r));
    cfg.clusters.push_back(std::move(t.cluster));
  }
  if (cfg.clusters.empty()) throw error(errc::invalid_config, "client_config: no targets");
  validate(cfg);
  return cfg;
}

}  // namespace gateway
