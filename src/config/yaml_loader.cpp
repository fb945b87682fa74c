// Loads Kubernetes manifests (Gateway API Gateway/HTTPRoute/GatewayClass/ReferenceGrant,
// Service, EndpointSlice, Namespace) into a gateway_config. Every field is
// either understood, or reported: an error for what would change behaviour,
// a warning for what is inert in one process (a Service's selector, say).
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <variant>

#include "config/manifest_loader.hpp"
#include "router/host_name.hpp"

namespace gateway::manifests {
namespace {

using yaml_config::index_path;
using yaml_config::join_path;

const std::initializer_list<std::string_view> metadata_keys = {"name", "namespace", "labels",
                                                               "annotations", "creationTimestamp"};
const std::initializer_list<std::string_view> metadata_inert = {
    "uid", "resourceVersion", "generation", "managedFields", "finalizers", "ownerReferences"};
}  // namespace

void loader::load(std::string_view text) {
  std::vector<YAML::Node> docs;
  try {
    docs = yaml_config::load_documents(text);
  } catch (const YAML::Exception& e) {
    issues_.push_back({"YAML", "", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg});
    return;
  }
  std::size_t index = 0;
  for (const YAML::Node& d : docs) {
    ++index;
    if (d.IsNull()) continue;  // "---" with nothing after it
    try {
      read_document(d, index);
    } catch (const YAML::Exception& e) {
      // yaml-cpp throws where a reader asked a node a question its shape has
      // no answer to; the document is wrong, the load goes on to say so.
      issues_.push_back({"document " + std::to_string(index), "",
                         e.mark.line >= 0 ? e.mark.line + 1 : yaml_config::line_of(d), e.msg});
    }
  }
  resolve();
}

void loader::read_document(const YAML::Node& d, std::size_t index) {
  doc_.set_label("document " + std::to_string(index));
  if (!doc_.is_map(d, "")) return;
  auto kind = doc_.string_at(d, "kind", "", true);
  auto api = doc_.string_at(d, "apiVersion", "", true);
  if (!kind || !api) return;
  meta m;
  m.kind = *kind;
  if (YAML::Node md = d["metadata"]; md.IsDefined() && doc_.is_map(md, "metadata")) {
    doc_.check_keys(md, "metadata", metadata_keys, metadata_inert);
    m.name = doc_.string_at(md, "name", "metadata", true).value_or("");
    m.ns = doc_.string_at(md, "namespace", "metadata", false).value_or("default");
    m.created = doc_.string_at(md, "creationTimestamp", "metadata", false).value_or("");
    if (YAML::Node notes = md["annotations"];
        notes.IsDefined() && doc_.is_map(notes, "metadata.annotations")) {
      for (const auto& kv : notes)
        m.annotations[kv.first.Scalar()] = kv.second.Scalar();
      m.annotations_node = notes;
    }
    if (YAML::Node labels = md["labels"];
        labels.IsDefined() && doc_.is_map(labels, "metadata.labels"))
      for (const auto& kv : labels)
        m.labels[kv.first.Scalar()] = kv.second.Scalar();
  } else if (!md.IsDefined()) {
    doc_.fail(d, "metadata", "required field is missing");
  }
  doc_.set_label("document " + std::to_string(index) + " (" + *kind + " " + m.ns + "/" + m.name +
                 ")");
  auto require_api = [&](std::initializer_list<std::string_view> versions) {
    return doc_.one_of(d["apiVersion"], "apiVersion", *api, versions);
  };
  const YAML::Node spec = d["spec"];
  if (*kind == "Gateway") {
    if (require_api({"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"}))
      if (auto g = manifests::read_gateway(doc_, d, std::move(m)))
        gateways_.push_back(std::move(*g));
  } else if (*kind == "HTTPRoute" || *kind == "GRPCRoute") {
    if (require_api({"gateway.networking.k8s.io/v1", *kind == "HTTPRoute"
                                                         ? "gateway.networking.k8s.io/v1beta1"
                                                         : "gateway.networking.k8s.io/v1alpha2"}))
      routes_.push_back(manifests::read_route(doc_, d, std::move(m)));
  } else if (*kind == "TCPRoute" || *kind == "TLSRoute") {  // the experimental channel
    if (require_api({"gateway.networking.k8s.io/v1alpha2",
                     *kind == "TLSRoute" ? "gateway.networking.k8s.io/v1alpha3"
                                         : "gateway.networking.k8s.io/v1alpha2"}))
      routes_.push_back(manifests::read_route(doc_, d, std::move(m)));
  } else if (*kind == "ReferenceGrant") {
    if (require_api({"gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1"}))
      grants_.push_back(manifests::read_reference_grant(doc_, d, std::move(m)));
  } else if (*kind == "GatewayClass") {
    if (require_api({"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"})) {
      doc_.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
      if (doc_.is_map(spec, "spec")) {
        doc_.check_keys(spec, "spec", {"controllerName", "description"}, {"parametersRef"});
        classes_[m.name] = doc_.string_at(spec, "controllerName", "spec", true).value_or("");
      }
    }
  } else if (*kind == "Service") {
    if (require_api({"v1"}))
      if (auto sv = manifests::read_service(doc_, d, std::move(m)))
        services_.push_back(std::move(*sv));
  } else if (*kind == "EndpointSlice") {
    if (require_api({"discovery.k8s.io/v1"}))
      if (auto sl = manifests::read_slice(doc_, d, std::move(m))) slices_.push_back(std::move(*sl));
  } else if (*kind == "Ingress") {
    if (require_api({"networking.k8s.io/v1"}))
      ingresses_.push_back(manifests::read_ingress(doc_, d, std::move(m)));
  } else if (*kind == "IngressClass") {
    if (require_api({"networking.k8s.io/v1"})) {
      doc_.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"});
      if (doc_.is_map(spec, "spec")) {
        doc_.check_keys(spec, "spec", {"controller"}, {"parameters"});
        auto it = m.annotations.find("ingressclass.kubernetes.io/is-default-class");
        ingress_classes_[m.name] = {doc_.string_at(spec, "controller", "spec", true).value_or(""),
                                    it != m.annotations.end() && it->second == "true"};
      }
    }
  } else if (*kind == "Secret") {
    if (require_api({"v1"})) {
      // This project's annotations point a TLS Secret at files instead of
      // holding the PEM (read at load, reloaded when they change).
      manifests::secret_data data = manifests::read_secret(doc_, d);
      for (const auto& [key, field] : {std::pair{"gateway.dev/certificate-file", "tls.crt"},
                                       std::pair{"gateway.dev/key-file", "tls.key"},
                                       std::pair{"gateway.dev/ocsp-file", "tls.ocsp"}})
        if (auto it = m.annotations.find(key); it != m.annotations.end())
          data[std::string("file:") + field] = it->second;
      secrets_[m.ns + "/" + m.name] = std::move(data);
    }
  } else if (*kind == "BackendTLSPolicy") {
    if (require_api({"gateway.networking.k8s.io/v1alpha3", "gateway.networking.k8s.io/v1"})) {
      tls_policies_.push_back(manifests::read_backend_tls(doc_, d, std::move(m)));
      tls_policies_.back().label = doc_.label();
    }
  } else if (*kind == "ConfigMap") {
    if (require_api({"v1"}))
      config_maps_[m.ns + "/" + m.name] = manifests::read_config_map(doc_, d);
  } else if (*kind == "Backend") {
    if (require_api({manifests::envoy_gateway_api}))
      if (auto b = manifests::read_backend(doc_, d, std::move(m)))
        backends_.push_back(std::move(*b));
  } else if (*kind == "SecurityPolicy" || *kind == "BackendTrafficPolicy" ||
             *kind == "ClientTrafficPolicy") {
    if (require_api({manifests::envoy_gateway_api}))
      policies_.push_back(manifests::read_policy(doc_, d, std::move(m), *kind, client_));
  } else if (*kind == "Filter" || *kind == "WafPolicy") {
    if (require_api({manifests::project_api}))
      policies_.push_back(manifests::read_policy(doc_, d, std::move(m), *kind));
  } else if (*kind == "Namespace") {
    if (require_api({"v1"})) {
      doc_.check_keys(d, "", {"apiVersion", "kind", "metadata"}, {"spec", "status"});
      namespaces_[m.name] = m.labels;
    }
  } else {
    doc_.fail(
        d["kind"], "kind",
        fmt::format(
            "unsupported kind '{}{}", *kind,
            "' (supported: Gateway, GatewayClass, HTTPRoute, GRPCRoute, ReferenceGrant, Service, "
            "EndpointSlice, Backend, BackendTLSPolicy, Namespace, Secret, ConfigMap, Ingress, "
            "IngressClass, SecurityPolicy, "
            "BackendTrafficPolicy, ClientTrafficPolicy, WafPolicy, Filter)"));
  }
}

void loader::resolve() {
  for (manifests::policy_doc& p : policies_) {
    document_reader at(p.label, issues_, out_.warnings);
    manifests::build_policy_filters(
        at, p, registry_,
        [this](const std::string& ns, const std::string& name) -> const manifests::secret_data* {
          auto it = secrets_.find(ns + "/" + name);
          return it == secrets_.end() ? nullptr : &it->second;
        },
        [&](const std::string& ns, const std::string& name, std::uint16_t port,
            std::string& error) {
          object_ref b;
          b.kind = "Service";
          b.ns = ns;
          b.name = name;
          b.port = port;
          std::vector<std::string> endpoints;
          auto c = cluster_for(b, p.m, at);
          if (auto* u = std::get_if<unresolved>(&c)) {
            error = u->message;
            return endpoints;
          }
          for (const cluster_config& cl : out_.clusters)
            if (cl.name == std::get<std::string>(c))
              for (const endpoint_config& ep : cl.endpoints)
                endpoints.push_back(ep.address + ":" + std::to_string(ep.port));
          if (endpoints.empty())
            error = fmt::format("Service {}/{} has no ready endpoints", ns, name);
          return endpoints;
        });
  }
  // GatewayClass selection: with no class in the file every Gateway is served.
  std::vector<const gateway_doc*> served;
  for (const auto& g : gateways_) {
    if (!classes_.empty()) {
      auto it = classes_.find(g.class_name);
      if (it == classes_.end() || it->second != controller_name) {
        out_.warnings.push_back(
            fmt::format("Gateway {}/{}: class '{}' is not handled by controller {}: not served",
                        g.m.ns, g.m.name, g.class_name, controller_name));
        continue;
      }
    }
    served.push_back(&g);
  }
  struct attach_point {
    const gateway_doc* gw;
    const listener_doc* l;
    std::size_t index;
  };
  std::vector<attach_point> points;
  for (const gateway_doc* g : served) {
    for (const auto& l : g->listeners) {
      listener_config lc;
      lc.name = g->m.ns + "/" + g->m.name + "/" + l.name;
      lc.bind_address = g->address;
      lc.bind_port = l.port;
      lc.port = l.port;
      lc.hostname = l.hostname;
      if (l.protocol == "TCP" || l.protocol == "TLS") {
        lc.protocol = l.passthrough ? listener_protocol::tls_passthrough : listener_protocol::tcp;
        // A connection may sit quiet for long (a database session): Envoy's
        // TCP proxy idle timeout, an hour, rather than an HTTP body's minute.
        lc.limits.stream_idle_timeout = std::chrono::hours(1);
      }
      // The most specific ClientTrafficPolicy: this listener's, else the Gateway's.
      const manifests::policy_doc* client_policy = nullptr;
      int best = 0;
      for (const manifests::policy_doc& p : policies_) {
        if (p.kind != "ClientTrafficPolicy" || p.m.ns != g->m.ns) continue;
        for (const manifests::target_ref& t : p.targets) {
          if (t.kind != "Gateway" || t.name != g->m.name) continue;
          const int level = t.section.empty() ? 1 : t.section == l.name ? 2 : 0;
          if (level > best) {
            best = level;
            client_policy = &p;
          }
        }
      }
      if (client_policy && client_policy->xff_trusted_hops)
        lc.xff_trusted_hops = *client_policy->xff_trusted_hops;
      if (client_policy && client_policy->normalization)
        lc.normalization = *client_policy->normalization;
      if (client_policy && client_policy->http2) lc.http2 = *client_policy->http2;
      if (client_policy) lc.tracing = client_policy->tracing;
      if (client_policy) client_policy->limits.apply(lc.limits, lc.protocol);
      apply_listener_tls(*g, l, client_policy, lc);
      points.push_back({g, &l, out_.listeners.size()});
      out_.listeners.push_back(std::move(lc));
    }
  }
  // Which route went to which listener, under which status entry (for the
  // HTTPRoute/GRPCRoute conflicts judged once all are attached).
  std::vector<attachment> attachments;
  // Route age: older creationTimestamp first; routes without one come after.
  std::vector<std::string> stamps;
  for (const auto& r : routes_)
    if (!r.m.created.empty()) stamps.push_back(r.m.created);
  std::sort(stamps.begin(), stamps.end());
  for (const auto& r : routes_) {
    document_reader at(r.label, issues_, out_.warnings);
    route base;
    base.namespace_name = r.m.ns;
    base.name = r.m.name;
    base.kind = r.m.kind == "GRPCRoute"  ? route_kind::grpc
                : r.m.kind == "TCPRoute" ? route_kind::tcp
                : r.m.kind == "TLSRoute" ? route_kind::tls
                                         : route_kind::http;
    const bool connections = base.kind == route_kind::tcp || base.kind == route_kind::tls;
    base.creation_order =
        r.m.created.empty()
            ? static_cast<std::int64_t>(stamps.size())
            : std::lower_bound(stamps.begin(), stamps.end(), r.m.created) - stamps.begin();
    // ResolvedRefs: the first reference that fails names the reason; each
    // failing one is also a warning with its location.
    status_condition resolved{"ResolvedRefs", true, "ResolvedRefs", "all references resolved"};
    auto note_unresolved = [&](const object_ref& b, const unresolved& u, const char* effect) {
      at.warn(b.node, b.path, u.message + effect);
      if (resolved.status) resolved = {"ResolvedRefs", false, u.reason, u.message};
    };
    auto resolve_rule = [&](const manifests::rule_doc& rd, bool report) {
      route_rule rule = rd.rule;
      for (const auto& b : rd.backends) {
        auto c = cluster_for(b, r.m, at);
        if (auto* name = std::get_if<std::string>(&c)) {
          rule.backends.push_back({*name, b.weight, ""});
        } else {
          const auto& u = std::get<unresolved>(c);
          if (report) note_unresolved(b, u, ": requests for this backend get 500");
          rule.backends.push_back({"", b.weight, u.message});
        }
      }
      for (const auto& md : rd.mirrors) {
        auto c = cluster_for(md.backend, r.m, at);
        if (auto* name = std::get_if<std::string>(&c))
          rule.mirrors.push_back({*name, md.numerator, md.denominator});
        else if (report)
          note_unresolved(md.backend, std::get<unresolved>(c), ": nothing is mirrored there");
      }
      return rule;
    };
    for (const auto& rd : r.rules) {
      route_rule rule = resolve_rule(rd, true);
      // Each variant repeats the rule's references: reported once, for the rule
      // (a variant's own mirrors are reported with it).
      for (const auto& v : rd.variants) {
        rule.backend_variants.push_back(resolve_rule(v, false));
        for (std::size_t k = rd.mirrors.size(); k < v.mirrors.size(); ++k)
          if (auto c = cluster_for(v.mirrors[k].backend, r.m, at);
              !std::holds_alternative<std::string>(c))
            note_unresolved(v.mirrors[k].backend, std::get<unresolved>(c),
                            ": nothing is mirrored there");
      }
      base.rules.push_back(std::move(rule));
    }
    bool attached = false;
    for (const auto& pr : r.parents) {
      route_status st{r.m.kind,
                      r.m.ns + "/" + r.m.name,
                      pr.ns + "/" + pr.name + (pr.section.empty() ? "" : "/" + pr.section),
                      {}};
      status_condition accepted{"Accepted", false, "NoMatchingParent", ""};
      bool gateway_found = false, listener_found = false, allowed = false, kind_allowed = false;
      for (const auto& pt : points) {
        if (pt.gw->m.ns != pr.ns || pt.gw->m.name != pr.name) continue;
        gateway_found = true;
        if (!pr.section.empty() && pt.l->name != pr.section) continue;
        if (pr.port && pt.l->port != pr.port) continue;
        listener_found = true;
        if (!admits(*pt.gw, *pt.l, r.m.ns)) continue;
        allowed = true;
        const std::vector<std::string> kinds =
            pt.l->kinds.empty() ? manifests::route_kinds_of(*pt.l) : pt.l->kinds;
        if (std::find(kinds.begin(), kinds.end(), r.m.kind) == kinds.end()) continue;
        kind_allowed = true;
        route attached_route = base;
        if (!intersect_hostnames(pt.l->hostname, r.hostnames, attached_route.hostnames)) continue;
        for (std::size_t i = 0; i < attached_route.rules.size(); ++i) {
          route_rule& rule = attached_route.rules[i];
          if (connections) {  // the upstream settings of a BackendTrafficPolicy, no filters
            apply_backend_policy(r, r.rules[i], *pt.gw, *pt.l, rule, at);
            warn_connection_filters(r, r.rules[i], *pt.gw, *pt.l, at);
            continue;
          }
          rule.filters = chain_for(r, r.rules[i], *pt.gw, *pt.l, at);
          apply_backend_policy(r, r.rules[i], *pt.gw, *pt.l, rule, at);
          for (std::size_t v = 0; v < rule.backend_variants.size(); ++v) {
            const manifests::rule_doc& vd = r.rules[i].variants[v];
            rule.backend_variants[v].filters = chain_for(r, vd, *pt.gw, *pt.l, at);
            apply_backend_policy(r, vd, *pt.gw, *pt.l, rule.backend_variants[v], at);
          }
        }
        out_.listeners[pt.index].routes.push_back(std::move(attached_route));
        attachments.push_back(
            {&r, pt.index, out_.listeners[pt.index].routes.size() - 1, out_.statuses.size()});
        accepted = {"Accepted", true, "Accepted", "attached"};
        attached = true;
      }
      bool known = std::any_of(gateways_.begin(), gateways_.end(), [&](const gateway_doc& g) {
        return g.m.ns == pr.ns && g.m.name == pr.name;
      });
      if (!known) {
        at.fail(pr.node, join_path(pr.path, "name"),
                fmt::format("Gateway {}/{} not found in the config", pr.ns, pr.name));
        accepted.message = "Gateway not found";
      } else if (!gateway_found) {
        at.warn(pr.node, pr.path,
                "Gateway " + pr.ns + "/" + pr.name + " is not served (GatewayClass)");
        accepted.message = "Gateway not served by this controller";
      } else if (!accepted.status) {
        if (!listener_found) {
          accepted.message = "no listener matches sectionName/port";
        } else if (!allowed) {
          accepted.reason = "NotAllowedByListeners";
          accepted.message =
              fmt::format("the listeners' allowedRoutes do not admit namespace {}", r.m.ns);
        } else if (!kind_allowed) {
          accepted.reason = "NotAllowedByListeners";
          accepted.reason = "NotAllowedByListeners";
          accepted.message = fmt::format(
              "the listeners' allowedRoutes.kinds (or protocols) do not carry {}", r.m.kind);
        } else {
          accepted.reason = "NoMatchingListenerHostname";
          accepted.message = "no listener hostname intersects the route's hostnames";
        }
        at.warn(pr.node, pr.path, "not attached to " + st.parent + ": " + accepted.message);
      }
      st.conditions = {accepted, resolved};
      out_.statuses.push_back(std::move(st));
    }
    if (!attached && !r.parents.empty())
      at.warn(YAML::Node(), "spec.parentRefs", "route attaches to no listener");
    if (r.parents.empty())
      at.warn(YAML::Node(), "spec.parentRefs", "route has no parentRefs and serves nothing");
  }
  reject_kind_conflicts(attachments);
  resolve_ingresses();
  drop_unused_clusters();
}

namespace {

// Whether two routes' hostname lists (each already cut to its listener's;
// empty: any) have a name in common.
bool hostnames_meet(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return true;
  for (const std::string& x : a)
    for (const std::string& y : b)
      if (listener_hostname_covers(x, y) || listener_hostname_covers(y, x)) return true;
  return false;
}

}  // namespace

void loader::warn_connection_filters(const route_doc& r, const manifests::rule_doc& rd,
                                     const gateway_doc& gw, const listener_doc& l,
                                     document_reader& at) {
  const manifests::policy_doc* p = most_specific("BackendTrafficPolicy", r, rd, gw, l);
  if (p && !p->filters.empty() && target_level(*p, r, rd, gw, l) >= 3)
    at.warn(YAML::Node(), "spec",
            "BackendTrafficPolicy " + p->m.ns + "/" + p->m.name +
                ": only its upstream settings apply to a " + r.m.kind +
                " (rate limits and other request filters act on requests, not connections)");
}

namespace {

// Whether route kinds `a` and `b` cannot share a hostname on one listener:
// an HTTPRoute and a GRPCRoute (GRPCRoute v1), or two connection routes of
// one kind with the same hostnames (the newer could never be chosen).
bool conflicting(const route& a, const route& b) {
  const auto carries_connections = [](route_kind k) {
    return k == route_kind::tcp || k == route_kind::tls;
  };
  if (carries_connections(a.kind) || carries_connections(b.kind)) {
    if (a.kind != b.kind) return false;
    std::vector<std::string> x = a.hostnames, y = b.hostnames;
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    return x == y;
  }
  return a.kind != b.kind && hostnames_meet(a.hostnames, b.hostnames);
}

}  // namespace

void loader::reject_kind_conflicts(const std::vector<attachment>& attachments) {
  // GRPCRoute (v1): an HTTPRoute and a GRPCRoute on one listener whose
  // hostnames meet cannot both be accepted; the older (then the first by
  // "namespace/name") keeps the listener. Routes are ordered that way already.
  // Two TCPRoutes (or TLSRoutes for the same hostnames) on one listener: the
  // same, since nothing in a connection would choose the other.
  std::vector<bool> dropped(attachments.size(), false);
  for (std::size_t i = 0; i < attachments.size(); ++i) {
    const attachment& a = attachments[i];
    const route& ra = *route_of(a);
    for (std::size_t j = 0; j < attachments.size(); ++j) {
      const attachment& b = attachments[j];
      if (i == j || b.listener != a.listener) continue;
      const route& rb = *route_of(b);
      if (!conflicting(ra, rb)) continue;
      const bool a_loses =
          ra.creation_order != rb.creation_order
              ? ra.creation_order > rb.creation_order
              : std::tie(ra.namespace_name, ra.name) > std::tie(rb.namespace_name, rb.name);
      if (!a_loses) continue;
      dropped[i] = true;
      document_reader at(a.doc->label, issues_, out_.warnings);
      at.warn(YAML::Node(), "spec.hostnames",
              "not attached to listener " + out_.listeners[a.listener].name + ": " +
                  "it shares a hostname with " + route_kind_name(rb.kind) + " " +
                  rb.namespace_name + "/" + rb.name +
                  ", which takes precedence (older, or first by name)");
      break;
    }
  }
  // A route leaves its listeners' tables; its status towards a parent says
  // so when no listener of that parent kept it.
  std::vector<bool> kept(out_.statuses.size(), false);
  for (std::size_t i = 0; i < attachments.size(); ++i)
    if (!dropped[i]) kept[attachments[i].status] = true;
  for (std::size_t i = attachments.size(); i-- > 0;) {
    if (!dropped[i]) continue;
    const attachment& a = attachments[i];
    auto& routes = out_.listeners[a.listener].routes;
    routes.erase(routes.begin() + static_cast<std::ptrdiff_t>(a.position));
    if (!kept[a.status])
      out_.statuses[a.status].conditions.front() = {
          "Accepted", false, "Conflicted",
          route_of(a)->kind == route_kind::tcp || route_of(a)->kind == route_kind::tls
              ? "another route of this kind on the listener has the same hostnames; the older "
                "route wins"
              : "an HTTPRoute and a GRPCRoute on one listener share a hostname; the older route "
                "wins"};
  }
}

void loader::drop_unused_clusters() {
  std::set<std::string> used;
  for (const listener_config& l : out_.listeners)
    for (const route& r : l.routes)
      for (const route_rule& rule : r.rules) {
        auto use = [&](const route_rule& each) {
          for (const backend_ref& b : each.backends)
            used.insert(b.cluster);
          for (const request_mirror& m : each.mirrors)
            used.insert(m.cluster);
        };
        use(rule);
        for (const route_rule& v : rule.backend_variants)
          use(v);
      }
  std::erase_if(out_.clusters, [&](const cluster_config& c) { return !used.count(c.name); });
}

}  // namespace gateway::manifests

namespace gateway {
using manifests::loader;

std::string manifests::describe(const std::vector<config_issue>& issues, std::string_view source) {
  std::string all;
  for (const auto& i : issues) {
    if (!all.empty()) all += "\n";
    all += i.to_string(source);
  }
  return all;
}

using manifests::describe;

gateway_config load_yaml(std::string_view text, std::string_view source_name, std::error_code& ec,
                         std::vector<config_issue>& issues) {
  return load_yaml(text, source_name, filter_registry::builtin(), ec, issues);
}

gateway_config load_yaml(std::string_view text, std::string_view /*source_name*/,
                         const filter_registry& filters, std::error_code& ec,
                         std::vector<config_issue>& issues) {
  return manifests::load_manifests(text, filters, false, ec, issues);
}

gateway_config manifests::load_manifests(std::string_view text, const filter_registry& filters,
                                         bool client, std::error_code& ec,
                                         std::vector<config_issue>& issues) {
  gateway_config out;
  issues.clear();
  loader l(issues, out, filters);
  if (client) l.for_client();
  l.load(text);
  if (issues.empty()) {
    // Catch what only shows once compiled (regexes, duplicate names, TLS
    // material). Each listener is judged alone here: which of them share a
    // socket is known only once the addresses are final (after `--bind`,
    // bind_all), and the server judges that when it builds its snapshot.
    try {
      gateway_config alone = out;
      for (listener_config& l : alone.listeners)
        l.bind_port = 0;
      validate(alone);
    } catch (const error& e) {
      issues.push_back({"config", "", 0, e.what()});
    }
  }
  ec = issues.empty() ? std::error_code() : make_error_code(errc::invalid_config);
  return out;
}

gateway_config load_yaml(std::string_view text, std::string_view source) {
  return load_yaml(text, source, filter_registry::builtin());
}

gateway_config load_yaml(std::string_view text, std::string_view source,
                         const filter_registry& filters) {
  std::error_code ec;
  std::vector<config_issue> issues;
  gateway_config out = load_yaml(text, source, filters, ec, issues);
  if (ec) throw error(errc::invalid_config, describe(issues, source));
  return out;
}

gateway_config load_yaml_file(const std::string& path) {
  return load_yaml_file(path, filter_registry::builtin());
}

gateway_config load_yaml_file(const std::string& path, const filter_registry& filters) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw error(errc::invalid_config,
                fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return load_yaml(text.str(), path, filters);
}

}  // namespace gateway
