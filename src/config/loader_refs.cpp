// The manifest loader's references: a backendRef to the cluster it becomes
// (Service ports and their appProtocol, Backends, weights), ReferenceGrants,
// BackendTLSPolicy and listener TLS from Secrets and ConfigMaps, policies by
// their most specific target, and Ingresses. The loader is manifest_loader.hpp.
#include <fmt/format.h>
#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <variant>

#include "config/manifest_loader.hpp"
#include "router/host_name.hpp"

namespace gateway::manifests {

using yaml_config::index_path;
using yaml_config::join_path;

bool loader::granted(const std::string& from_ns, const std::string& to_ns, const std::string& name,
                     std::string_view to_group, std::string_view to_kind,
                     std::string_view from_kind) const {
  for (const grant_doc& g : grants_) {
    if (g.m.ns != to_ns) continue;
    bool from_ok = std::any_of(g.from.begin(), g.from.end(), [&](const auto& f) {
      return f.group == gateway_api_group && f.kind == from_kind && f.ns == from_ns;
    });
    bool to_ok = std::any_of(g.to.begin(), g.to.end(), [&](const auto& t) {
      return t.group == to_group && t.kind == to_kind && (t.name.empty() || t.name == name);
    });
    if (from_ok && to_ok) return true;
  }
  return false;
}

std::variant<std::string, loader::unresolved> loader::cluster_for(
    const object_ref& b, const meta& from, document_reader& at,
    std::chrono::milliseconds connect_timeout, const manifests::policy_doc* settings) {
  const std::string what = b.ns + "/" + b.name;
  const bool own = settings && settings->upstream && settings->upstream->cluster;
  if (b.group == manifests::envoy_gateway_group && b.kind == "Backend")
    return backend_cluster(b, from, own ? settings : nullptr);
  if (!b.group.empty() || b.kind != "Service")
    return unresolved{"InvalidKind", "backendRef kind '" + b.kind + "' in group '" + b.group +
                                         "' is not supported (core Service, or Backend of " +
                                         std::string(manifests::envoy_gateway_group) + ")"};
  if (b.ns != from.ns && !granted(from.ns, b.ns, b.name, "", "Service", from.kind))
    return unresolved{"RefNotPermitted", "Service " + what +
                                             " is in another namespace and no "
                                             "ReferenceGrant there allows " +
                                             from.kind + "s from " + from.ns};
  const service_doc* svc = nullptr;
  for (const auto& s : services_)
    if (s.m.ns == b.ns && s.m.name == b.name) svc = &s;
  if (!svc) return unresolved{"BackendNotFound", "Service " + what + " not found in the config"};
  const service_port_doc* sp = nullptr;
  for (const auto& p : svc->ports)
    if (b.port_name.empty() ? p.port == b.port : p.name == b.port_name) sp = &p;
  if (!sp)
    return unresolved{"BackendNotFound",
                      "Service " + what + " has no port " +
                          (b.port_name.empty() ? std::to_string(b.port) : "named " + b.port_name)};
  // What the port speaks (Gateway API GEP-1911): HTTP/1.1 unless it says
  // HTTP/2, in plain text (h2c) or over TLS (h2, which a BackendTLSPolicy configures).
  upstream_protocol protocol = upstream_protocol::http1;
  // A GRPCRoute's backend speaks HTTP/2 whatever the port says, as Envoy
  // Gateway has it: over TLS when the port says so, else in plain text.
  const bool grpc = from.kind == "GRPCRoute";
  // A TCPRoute or TLSRoute carries bytes: whatever the port speaks passes
  // through (its protocol only matters to health checks).
  const bool bytes = from.kind == "TCPRoute" || from.kind == "TLSRoute";
  const bool h2_over_tls =
      !bytes && (sp->app_protocol == "kubernetes.io/h2" || (grpc && sp->app_protocol == "https"));
  if (sp->app_protocol == "kubernetes.io/h2c" || h2_over_tls)
    protocol = upstream_protocol::http2;
  else if (!bytes && !sp->app_protocol.empty() && sp->app_protocol != "http" &&
           sp->app_protocol != "https")
    return unresolved{"UnsupportedProtocol",
                      "Service " + what + " port " + std::to_string(sp->port) +
                          " has appProtocol '" + sp->app_protocol +
                          "', which the gateway does not speak (HTTP/1.1: none, 'http' or "
                          "'https'; HTTP/2: 'kubernetes.io/h2c', or 'kubernetes.io/h2' with a "
                          "BackendTLSPolicy)"};
  const bool made_h2 = grpc && protocol == upstream_protocol::http1;
  if (made_h2) protocol = upstream_protocol::http2;
  std::string key = what + ":" + std::to_string(sp->port);
  if (made_h2 || (grpc && sp->app_protocol == "https")) key += "#grpc";
  // A different connect timeout (an Ingress annotation) makes a cluster of its own.
  if (connect_timeout.count() > 0)
    key += "#connect=" + std::to_string(connect_timeout.count()) + "ms";
  // A BackendTrafficPolicy's load balancing, health checks and limits make
  // a cluster of their own, named after the policy.
  if (own) key += "@" + settings->m.ns + "/" + settings->m.name;
  if (known_clusters_.count(key)) return key;
  cluster_config c;
  c.name = key;
  c.protocol = protocol;
  if (own) settings->upstream->apply(c);
  if (connect_timeout.count() > 0) c.connect_timeout = connect_timeout;
  apply_backend_tls("", "Service", b.ns, b.name, sp->name, c);
  if (h2_over_tls && !c.tls.enabled)
    return unresolved{"UnsupportedProtocol",
                      "Service " + what + " port " + std::to_string(sp->port) +
                          " has appProtocol '" + sp->app_protocol +
                          "' (HTTP/2 over TLS) but no BackendTLSPolicy covers it"};
  if (!svc->external_name.empty())  // ExternalName: the name, on the Service's port
    c.endpoints.push_back({svc->external_name, sp->port, 1});
  for (const auto& slice : slices_) {
    if (slice.m.ns != b.ns || slice.service != b.name) continue;
    for (const auto& port : slice.ports) {
      if (port.name != sp->name) continue;
      for (const auto& a : slice.addresses)
        c.endpoints.push_back({a, port.port, 1});
    }
  }
  if (c.endpoints.empty())
    at.warn(b.node, b.path,
            "Service " + what + " port " + std::to_string(sp->port) +
                " has no ready EndpointSlice endpoints: its requests get 503");
  known_clusters_.insert(key);
  out_.clusters.push_back(std::move(c));
  return key;
}

std::variant<std::string, loader::unresolved> loader::backend_cluster(
    const object_ref& b, const meta& from, const manifests::policy_doc* settings) {
  const std::string what = b.ns + "/" + b.name;
  if (b.ns != from.ns &&
      !granted(from.ns, b.ns, b.name, manifests::envoy_gateway_group, "Backend", from.kind))
    return unresolved{"RefNotPermitted", "Backend " + what +
                                             " is in another namespace and no "
                                             "ReferenceGrant there allows " +
                                             from.kind + "s from " + from.ns};
  const manifests::backend_doc* found = nullptr;
  for (const auto& be : backends_)
    if (be.m.ns == b.ns && be.m.name == b.name) found = &be;
  if (!found) return unresolved{"BackendNotFound", "Backend " + what + " not found in the config"};
  std::string key = "Backend " + what;
  // A GRPCRoute's backend speaks HTTP/2 (see cluster_for).
  const bool made_h2 = from.kind == "GRPCRoute" && found->protocol == upstream_protocol::http1;
  if (made_h2) key += "#grpc";
  if (settings) key += "@" + settings->m.ns + "/" + settings->m.name;
  if (known_clusters_.count(key)) return key;
  cluster_config c;
  c.name = key;
  if (settings) settings->upstream->apply(c);
  c.endpoints = found->endpoints;
  c.protocol = made_h2 ? upstream_protocol::http2 : found->protocol;
  apply_backend_tls(std::string(manifests::envoy_gateway_group), "Backend", b.ns, b.name, "", c);
  known_clusters_.insert(key);
  out_.clusters.push_back(std::move(c));
  return key;
}

void loader::apply_backend_tls(const std::string& group, const std::string& kind,
                               const std::string& ns, const std::string& name,
                               const std::string& port_name, cluster_config& c) {
  manifests::backend_tls_doc* chosen = nullptr;
  bool exact = false;
  for (auto& p : tls_policies_) {
    if (p.m.ns != ns) continue;
    for (const auto& t : p.targets) {
      if (t.group != group || t.kind != kind || t.name != name) continue;
      if (!t.section.empty() && t.section != port_name) continue;
      if (!chosen || (!t.section.empty() && !exact)) {
        chosen = &p;
        exact = !t.section.empty();
      }
    }
  }
  if (!chosen) return;
  document_reader at(chosen->label, issues_, out_.warnings);
  c.tls = chosen->tls;
  auto data_of =
      [&](const manifests::backend_tls_doc::pem_ref& r) -> const manifests::secret_data* {
    const auto& store = r.kind == "ConfigMap" ? config_maps_ : secrets_;
    auto it = store.find(ns + "/" + r.name);
    if (it == store.end()) {
      at.fail(r.node, r.path, fmt::format("{} {}/{} not found in the config", r.kind, ns, r.name));
      return nullptr;
    }
    return &it->second;
  };
  for (const auto& r : chosen->ca_refs)
    add_ca_bundle(r.kind, ns, r.name, r.node, r.path, at, c.tls.ca_pem);
  if (chosen->client_certificate)
    if (const auto* data = data_of(*chosen->client_certificate)) {
      auto crt = data->find("tls.crt");
      auto key = data->find("tls.key");
      if (crt == data->end() || key == data->end())
        at.fail(chosen->client_certificate->node, chosen->client_certificate->path,
                fmt::format("Secret {}/{} needs tls.crt and tls.key", ns,
                            chosen->client_certificate->name));
      else {
        c.tls.client_cert_pem = crt->second;
        c.tls.client_key_pem = key->second;
      }
    }
}

void loader::add_ca_bundle(const std::string& kind, const std::string& ns, const std::string& name,
                           const YAML::Node& node, const std::string& path, document_reader& at,
                           std::string& into) {
  const auto& store = kind == "ConfigMap" ? config_maps_ : secrets_;
  auto it = store.find(ns + "/" + name);
  if (it == store.end()) {
    at.fail(node, path, fmt::format("{} {}/{} not found in the config", kind, ns, name));
    return;
  }
  auto ca = it->second.find("ca.crt");
  if (ca == it->second.end())
    at.fail(node, path, fmt::format("{} {}/{} has no ca.crt", kind, ns, name));
  else
    into += ca->second;
}

std::optional<tls_certificate> loader::secret_certificate(const std::string& ns,
                                                          const std::string& name,
                                                          const YAML::Node& node,
                                                          const std::string& path,
                                                          document_reader& at) {
  auto it = secrets_.find(ns + "/" + name);
  if (it == secrets_.end()) {
    at.fail(node, path, fmt::format("Secret {}/{} not found in the config", ns, name));
    return std::nullopt;
  }
  const manifests::secret_data& data = it->second;
  auto value = [&](const std::string& key) {
    auto v = data.find(key);
    return v == data.end() ? std::string() : v->second;
  };
  tls_certificate c;
  c.source = "Secret " + ns + "/" + name;
  c.cert_pem = value("tls.crt");
  c.key_pem = value("tls.key");
  c.ocsp_der = value("tls.ocsp");
  c.cert_file = value("file:tls.crt");
  c.key_file = value("file:tls.key");
  c.ocsp_file = value("file:tls.ocsp");
  if ((c.cert_pem.empty() && c.cert_file.empty()) || (c.key_pem.empty() && c.key_file.empty())) {
    at.fail(node, path,
            fmt::format("Secret {}/{}{}", ns, name,
                        " needs tls.crt and tls.key (or the gateway.dev/certificate-file and "
                        "gateway.dev/key-file annotations)"));
    return std::nullopt;
  }
  return c;
}

void loader::apply_listener_tls(const gateway_doc& gw, const listener_doc& l,
                                const manifests::policy_doc* policy, listener_config& lc) {
  document_reader at("Gateway " + gw.m.ns + "/" + gw.m.name, issues_, out_.warnings);
  const manifests::client_tls_settings* settings = policy ? &policy->client_tls : nullptr;
  if (settings && settings->forward_client_cert)
    lc.forward_client_cert = *settings->forward_client_cert;
  if (!l.https) {
    if (settings && settings->tls) {
      document_reader pat(policy->label, issues_, out_.warnings);
      pat.warn(
          settings->node, "spec.tls",
          "listener " + lc.name +
              (l.passthrough ? " passes TLS through to its backends" : " is plain " + l.protocol) +
              ": its TLS settings have no effect there");
    }
    return;
  }
  listener_tls_config tls = settings && settings->tls ? *settings->tls : listener_tls_config{};
  for (const object_ref& r : l.certificate_refs) {
    if (r.ns != gw.m.ns && !granted(gw.m.ns, r.ns, r.name, "", "Secret", "Gateway")) {
      at.fail(r.node, r.path,
              fmt::format("Secret {}/{} is in another namespace and no ReferenceGrant there allows "
                          "Gateways from {}",
                          r.ns, r.name, gw.m.ns));
      continue;
    }
    if (auto c = secret_certificate(r.ns, r.name, r.node, r.path, at))
      tls.certificates.push_back(std::move(*c));
  }
  if (settings && tls.client_validation) {
    document_reader pat(policy->label, issues_, out_.warnings);
    for (const object_ref& r : settings->ca_refs) {
      const std::string ns = r.ns.empty() ? policy->m.ns : r.ns;
      if (ns != policy->m.ns) {
        pat.fail(r.node, r.path, "a CA reference must be in the policy's namespace");
        continue;
      }
      add_ca_bundle(r.kind, ns, r.name, r.node, r.path, pat, tls.client_validation->ca_pem);
    }
  }
  // What a TLS listener forwards is not HTTP: no protocol is offered unless
  // a policy names some.
  if (l.protocol == "TLS" && tls.alpn == listener_tls_config{}.alpn) tls.alpn.clear();
  lc.tls = std::move(tls);
}

bool loader::admits(const gateway_doc& gw, const listener_doc& l, const std::string& ns) const {
  if (l.from == "All") return true;
  if (l.from == "Same") return gw.m.ns == ns;
  // Selector: the namespace's labels, plus the name label Kubernetes sets on every namespace.
  std::map<std::string, std::string> labels;
  if (auto it = namespaces_.find(ns); it != namespaces_.end()) labels = it->second;
  labels["kubernetes.io/metadata.name"] = ns;
  return l.selector.matches(labels);
}

void loader::apply_backend_policy(const route_doc& r, const manifests::rule_doc& rd,
                                  const gateway_doc& gw, const listener_doc& l, route_rule& rule,
                                  document_reader& at) {
  const manifests::policy_doc* p = most_specific("BackendTrafficPolicy", r, rd, gw, l);
  if (!p || !p->upstream) return;
  const manifests::upstream_settings& u = *p->upstream;
  if (u.retry) {
    if (rule.retry)
      at.warn(YAML::Node(), "spec.rules",
              "rule '" + rule.name + "' has a retry of its own; BackendTrafficPolicy " + p->m.ns +
                  "/" + p->m.name + "'s retry does not apply to it");
    else
      rule.retry = u.retry;
  }
  if (u.request_timeout && rule.request_timeout.count() == 0)
    rule.request_timeout = *u.request_timeout;
  if (u.upgrades) rule.upgrades = *u.upgrades;
  if (u.max_stream_duration) rule.max_stream_duration = *u.max_stream_duration;
  if (!u.cluster) return;
  std::size_t k = 0;
  for (const object_ref& b : rd.backends) {
    auto c = cluster_for(b, r.m, at, std::chrono::milliseconds(0), p);
    if (auto* name = std::get_if<std::string>(&c)) rule.backends[k].cluster = *name;
    ++k;
  }
  k = 0;
  for (const auto& md : rd.mirrors) {
    auto c = cluster_for(md.backend, r.m, at, std::chrono::milliseconds(0), p);
    if (auto* name = std::get_if<std::string>(&c); name && k < rule.mirrors.size())
      rule.mirrors[k++].cluster = *name;
  }
}

int loader::target_level(const manifests::policy_doc& p, const route_doc& r,
                         const manifests::rule_doc& rd, const gateway_doc& gw,
                         const listener_doc& l) {
  int best = 0;
  for (const manifests::target_ref& t : p.targets) {
    if (t.kind == r.m.kind && p.m.ns == r.m.ns && t.name == r.m.name) {
      if (t.section.empty())
        best = std::max(best, 3);
      else if (t.section == rd.rule.name)
        best = std::max(best, 4);
    } else if (t.kind == "Service" && p.m.ns == r.m.ns) {  // only in a client's config
      // A client's route for calls to a Service port says which in its annotations.
      const auto service = r.m.annotations.find(std::string(client_service_annotation));
      const auto port = r.m.annotations.find(std::string(client_port_annotation));
      if (service == r.m.annotations.end() || service->second != t.name) continue;
      if (t.section.empty())
        best = std::max(best, 3);
      else if (port != r.m.annotations.end() && port->second == t.section)
        best = std::max(best, 4);
    } else if (t.kind == "Backend" && p.m.ns == r.m.ns) {  // only in a client's config
      const auto backend = r.m.annotations.find(std::string(client_backend_annotation));
      if (backend != r.m.annotations.end() && backend->second == t.name) best = std::max(best, 3);
    } else if (t.kind == "Gateway" && p.m.ns == gw.m.ns && t.name == gw.m.name) {
      if (t.section.empty())
        best = std::max(best, 1);
      else if (t.section == l.name)
        best = std::max(best, 2);
    }
  }
  return best;
}

const manifests::policy_doc* loader::most_specific(std::string_view kind, const route_doc& r,
                                                   const manifests::rule_doc& rd,
                                                   const gateway_doc& gw,
                                                   const listener_doc& l) const {
  const manifests::policy_doc* chosen = nullptr;
  int chosen_level = 0;
  for (const manifests::policy_doc& p : policies_) {
    if (p.kind != kind) continue;
    const int lv = target_level(p, r, rd, gw, l);
    if (lv > chosen_level || (lv && lv == chosen_level &&
                              std::tie(p.m.created, p.m.ns, p.m.name) <
                                  std::tie(chosen->m.created, chosen->m.ns, chosen->m.name))) {
      chosen = &p;
      chosen_level = lv;
    }
  }
  return chosen;
}

std::vector<filter_ref> loader::chain_for(const route_doc& r, const manifests::rule_doc& rd,
                                          const gateway_doc& gw, const listener_doc& l,
                                          document_reader& at) {
  using manifests::policy_doc;
  using manifests::target_ref;
  // 4: this rule, 3: the route, 2: this listener, 1: the Gateway, 0: not targeted.
  auto level = [&](const policy_doc& p) { return target_level(p, r, rd, gw, l); };
  std::vector<filter_ref> chain;
  for (std::string_view kind : {"SecurityPolicy", "BackendTrafficPolicy", "WafPolicy"})
    if (const policy_doc* chosen = most_specific(kind, r, rd, gw, l))
      chain.insert(chain.end(), chosen->filters.begin(), chosen->filters.end());
  for (int lv = 1; lv <= 4; ++lv)
    for (const policy_doc& p : policies_)
      if (p.kind == "Filter" && level(p) == lv)
        chain.insert(chain.end(), p.filters.begin(), p.filters.end());
  for (const object_ref& ext : rd.extensions) {
    const policy_doc* found = nullptr;
    for (const policy_doc& p : policies_)
      if (p.kind == "Filter" && p.m.ns == ext.ns && p.m.name == ext.name) found = &p;
    if (!found) {
      at.fail(ext.node, ext.path,
              fmt::format("Filter {}/{} not found in the config", ext.ns, ext.name));
      continue;
    }
    chain.insert(chain.end(), found->filters.begin(), found->filters.end());
  }
  return chain;
}

void loader::resolve_ingresses() {
  std::vector<const manifests::ingress_doc*> served;
  for (auto& in : ingresses_) {
    if (!ingress_classes_.empty()) {
      std::string& cls = in.class_name;  // becomes the effective class
      if (cls.empty())
        for (const auto& [name, c] : ingress_classes_)
          if (c.is_default) cls = name;
      auto it = ingress_classes_.find(cls);
      if (it == ingress_classes_.end() || it->second.controller != controller_name) {
        out_.warnings.push_back(
            fmt::format("Ingress {}/{}: class '{}' is not handled by controller {}: not served",
                        in.m.ns, in.m.name, cls, controller_name));
        continue;
      }
    }
    served.push_back(&in);
  }
  if (served.empty()) return;
  manifests::add_ingress_listeners(
      served,
      [this](const object_ref& b, const meta& from, std::chrono::milliseconds connect_timeout,
             std::string& why) -> std::string {
        document_reader at("", issues_, out_.warnings);
        auto c = cluster_for(b, from, at, connect_timeout);
        if (auto* name = std::get_if<std::string>(&c)) return *name;
        why = std::get<unresolved>(c).message;
        return "";
      },
      [this](const std::string& ns, const std::string& name, const YAML::Node& node,
             const std::string& path,
             document_reader& at) { return secret_certificate(ns, name, node, path, at); },
      out_, issues_);
}

}  // namespace gateway::manifests
