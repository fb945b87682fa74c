// Loads Kubernetes manifests (Gateway API Gateway/HTTPRoute/GatewayClass/ReferenceGrant,
// Service, EndpointSlice, Namespace) into a gateway_config. Every field is
// either understood, or reported: an error for what would change behaviour,
// a warning for what is inert in one process (a Service's selector, say).
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <variant>

#include "config/manifests.hpp"
#include "config/yaml_documents.hpp"
#include "router/host_name.hpp"

namespace gateway {
namespace {

using yaml_config::document_reader;
using yaml_config::index_path;
using yaml_config::join_path;

constexpr std::string_view controller_name = "gateway.dev/gatewayd";
using manifests::gateway_api_group;
const std::initializer_list<std::string_view> metadata_keys = {"name", "namespace", "labels",
                                                               "annotations", "creationTimestamp"};
const std::initializer_list<std::string_view> metadata_inert = {
    "uid", "resourceVersion", "generation", "managedFields", "finalizers", "ownerReferences"};

using manifests::grant_doc;
using manifests::label_selector;
using manifests::meta;
using manifests::object_ref;
using manifests::route_doc;

struct listener_doc {
  std::string name;
  std::uint16_t port = 0;
  std::string hostname;
  std::string from = "Same";  // Same, All or Selector
  label_selector selector;
};
struct gateway_doc {
  meta m;
  std::string class_name;
  std::string address = "0.0.0.0";
  std::vector<listener_doc> listeners;
};
struct service_port_doc {
  std::string name;
  std::uint16_t port = 0;
};
struct service_doc {
  meta m;
  std::vector<service_port_doc> ports;
};
struct slice_doc {
  meta m;
  std::string service;
  std::vector<std::string> addresses;  // ready endpoints
  std::vector<service_port_doc> ports;
};

class loader {
 public:
  loader(std::vector<config_issue>& issues, gateway_config& out)
      : issues_(issues), out_(out), doc_("", issues, out.warnings) {}

  void load(std::string_view text) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
      issues_.push_back({"YAML", "", e.mark.line >= 0 ? e.mark.line + 1 : 0, e.msg});
      return;
    }
    std::size_t index = 0;
    for (const YAML::Node& d : docs) {
      ++index;
      if (d.IsNull()) continue;  // "---" with nothing after it
      read_document(d, index);
    }
    resolve();
  }

 private:
  void read_document(const YAML::Node& d, std::size_t index) {
    doc_.set_label("document " + std::to_string(index));
    if (!doc_.is_map(d, "")) return;
    auto kind = doc_.string_at(d, "kind", "", true);
    auto api = doc_.string_at(d, "apiVersion", "", true);
    if (!kind || !api) return;
    meta m;
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
        read_gateway(d, std::move(m));
    } else if (*kind == "HTTPRoute") {
      if (require_api({"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1"}))
        routes_.push_back(manifests::read_httproute(doc_, d, std::move(m)));
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
      if (require_api({"v1"})) read_service(d, std::move(m));
    } else if (*kind == "EndpointSlice") {
      if (require_api({"discovery.k8s.io/v1"})) read_slice(d, std::move(m));
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
    } else if (*kind == "Namespace") {
      if (require_api({"v1"})) {
        doc_.check_keys(d, "", {"apiVersion", "kind", "metadata"}, {"spec", "status"});
        namespaces_[m.name] = m.labels;
      }
    } else {
      doc_.fail(d["kind"], "kind",
                "unsupported kind '" + *kind +
                    "' (supported: Gateway, GatewayClass, HTTPRoute, ReferenceGrant, Service, "
                    "EndpointSlice, Namespace)");
    }
  }

  void read_gateway(const YAML::Node& d, meta m) {
    doc_.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
    const YAML::Node spec = d["spec"];
    if (!doc_.is_map(spec, "spec")) return;
    doc_.check_keys(spec, "spec", {"gatewayClassName", "listeners", "addresses"});
    gateway_doc g;
    g.m = std::move(m);
    g.class_name = doc_.string_at(spec, "gatewayClassName", "spec", true).value_or("");
    if (YAML::Node addrs = spec["addresses"];
        addrs.IsDefined() && doc_.is_seq(addrs, "spec.addresses")) {
      for (std::size_t i = 0; i < addrs.size(); ++i) {
        std::string p = index_path("spec.addresses", i);
        if (!doc_.is_map(addrs[i], p)) continue;
        doc_.check_keys(addrs[i], p, {"type", "value"});
        std::string type = doc_.string_at(addrs[i], "type", p, false).value_or("IPAddress");
        if (!doc_.one_of(addrs[i]["type"], join_path(p, "type"), type, {"IPAddress"})) continue;
        if (i > 0) {
          doc_.fail(addrs[i], p, "only one address per Gateway is supported");
          continue;
        }
        g.address = doc_.string_at(addrs[i], "value", p, true).value_or("0.0.0.0");
      }
    }
    YAML::Node ls = spec["listeners"];
    if (!ls.IsDefined()) {
      doc_.fail(spec, "spec.listeners", "required field is missing");
      return;
    }
    if (!doc_.is_seq(ls, "spec.listeners")) return;
    std::set<std::string> names;
    for (std::size_t i = 0; i < ls.size(); ++i) {
      std::string p = index_path("spec.listeners", i);
      const YAML::Node l = ls[i];
      if (!doc_.is_map(l, p)) continue;
      doc_.check_keys(l, p, {"name", "port", "protocol", "hostname", "allowedRoutes"});
      listener_doc ld;
      ld.name = doc_.string_at(l, "name", p, true).value_or("");
      if (!names.insert(ld.name).second)
        doc_.fail(l["name"], join_path(p, "name"), "duplicate listener name");
      ld.port = static_cast<std::uint16_t>(doc_.int_at(l, "port", p, true, 1, 65535).value_or(0));
      std::string protocol = doc_.string_at(l, "protocol", p, true).value_or("HTTP");
      if (protocol == "HTTPS" || protocol == "TLS")
        doc_.fail(
            l["protocol"], join_path(p, "protocol"),
            "protocol " + protocol + " is not supported yet (TLS termination is not implemented)");
      else
        doc_.one_of(l["protocol"], join_path(p, "protocol"), protocol, {"HTTP"});
      if (auto h = doc_.string_at(l, "hostname", p, false)) {
        if (!valid_route_hostname(*h))
          doc_.fail(l["hostname"], join_path(p, "hostname"), "invalid hostname '" + *h + "'");
        ld.hostname = lowercase_host(*h);
      }
      if (YAML::Node ar = l["allowedRoutes"];
          ar.IsDefined() && doc_.is_map(ar, join_path(p, "allowedRoutes"))) {
        std::string ap = join_path(p, "allowedRoutes");
        doc_.check_keys(ar, ap, {"namespaces", "kinds"});
        if (YAML::Node ns = ar["namespaces"];
            ns.IsDefined() && doc_.is_map(ns, join_path(ap, "namespaces"))) {
          std::string np = join_path(ap, "namespaces");
          doc_.check_keys(ns, np, {"from", "selector"});
          ld.from = doc_.string_at(ns, "from", np, false).value_or("Same");
          doc_.one_of(ns["from"], join_path(np, "from"), ld.from, {"Same", "All", "Selector"});
          YAML::Node sel = ns["selector"];
          if (ld.from == "Selector" && !sel.IsDefined())
            doc_.fail(ns, join_path(np, "selector"), "required when from is Selector");
          else if (ld.from != "Selector" && sel.IsDefined())
            doc_.fail(sel, join_path(np, "selector"), "only used when from is Selector");
          else if (sel.IsDefined())
            ld.selector = manifests::read_selector(doc_, sel, join_path(np, "selector"));
        }
        if (YAML::Node kinds = ar["kinds"];
            kinds.IsDefined() && doc_.is_seq(kinds, join_path(ap, "kinds"))) {
          for (std::size_t k = 0; k < kinds.size(); ++k) {
            std::string kp = index_path(join_path(ap, "kinds"), k);
            if (!doc_.is_map(kinds[k], kp)) continue;
            doc_.check_keys(kinds[k], kp, {"group", "kind"});
            std::string kind = doc_.string_at(kinds[k], "kind", kp, true).value_or("");
            doc_.one_of(kinds[k]["kind"], join_path(kp, "kind"), kind, {"HTTPRoute"});
          }
        }
      }
      g.listeners.push_back(std::move(ld));
    }
    gateways_.push_back(std::move(g));
  }

  void read_service(const YAML::Node& d, meta m) {
    doc_.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
    const YAML::Node spec = d["spec"];
    if (!doc_.is_map(spec, "spec")) return;
    // Endpoints come from EndpointSlices here; the fields that pick pods or
    // cluster addresses have nothing to act on in one process.
    doc_.check_keys(spec, "spec", {"ports", "type"},
                    {"selector", "clusterIP", "clusterIPs", "sessionAffinity", "ipFamilies",
                     "ipFamilyPolicy", "internalTrafficPolicy"});
    if (auto type = doc_.string_at(spec, "type", "spec", false))
      doc_.one_of(spec["type"], "spec.type", *type, {"ClusterIP"});
    service_doc s;
    s.m = std::move(m);
    if (YAML::Node ps = spec["ports"]; ps.IsDefined() && doc_.is_seq(ps, "spec.ports")) {
      for (std::size_t i = 0; i < ps.size(); ++i) {
        std::string p = index_path("spec.ports", i);
        if (!doc_.is_map(ps[i], p)) continue;
        doc_.check_keys(ps[i], p, {"name", "port", "protocol", "appProtocol"}, {"targetPort"});
        service_port_doc sp;
        sp.name = doc_.string_at(ps[i], "name", p, false).value_or("");
        sp.port =
            static_cast<std::uint16_t>(doc_.int_at(ps[i], "port", p, true, 1, 65535).value_or(0));
        if (auto proto = doc_.string_at(ps[i], "protocol", p, false))
          doc_.one_of(ps[i]["protocol"], join_path(p, "protocol"), *proto, {"TCP"});
        s.ports.push_back(std::move(sp));
      }
    }
    services_.push_back(std::move(s));
  }

  void read_slice(const YAML::Node& d, meta m) {
    doc_.check_keys(d, "", {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
    slice_doc s;
    auto it = m.labels.find("kubernetes.io/service-name");
    if (it == m.labels.end())
      doc_.fail(d["metadata"], "metadata.labels",
                "an EndpointSlice needs the label kubernetes.io/service-name");
    else
      s.service = it->second;
    s.m = std::move(m);
    std::string type = doc_.string_at(d, "addressType", "", true).value_or("IPv4");
    doc_.one_of(d["addressType"], "addressType", type, {"IPv4", "IPv6"});
    if (YAML::Node es = d["endpoints"]; es.IsDefined() && doc_.is_seq(es, "endpoints")) {
      for (std::size_t i = 0; i < es.size(); ++i) {
        std::string p = index_path("endpoints", i);
        if (!doc_.is_map(es[i], p)) continue;
        doc_.check_keys(
            es[i], p, {"addresses", "conditions"},
            {"hostname", "nodeName", "zone", "targetRef", "hints", "deprecatedTopology"});
        bool ready = true;
        if (YAML::Node c = es[i]["conditions"];
            c.IsDefined() && doc_.is_map(c, join_path(p, "conditions"))) {
          std::string cp = join_path(p, "conditions");
          doc_.check_keys(c, cp, {"ready", "serving", "terminating"});
          // Kubernetes: a nil "ready" means ready; terminating endpoints take no new requests.
          ready = doc_.bool_at(c, "ready", cp).value_or(true) &&
                  !doc_.bool_at(c, "terminating", cp).value_or(false);
          doc_.bool_at(c, "serving", cp);
        }
        YAML::Node as = es[i]["addresses"];
        if (!as.IsDefined()) {
          doc_.fail(es[i], join_path(p, "addresses"), "required field is missing");
          continue;
        }
        if (!doc_.is_seq(as, join_path(p, "addresses"))) continue;
        for (std::size_t k = 0; k < as.size(); ++k) {
          std::string a = as[k].Scalar();
          bool v6 = a.find(':') != std::string::npos;
          if (v6 != (type == "IPv6"))
            doc_.fail(as[k], index_path(join_path(p, "addresses"), k),
                      "address '" + a + "' does not match addressType " + type);
          else if (ready)
            s.addresses.push_back(a);
        }
      }
    }
    if (YAML::Node ps = d["ports"]; ps.IsDefined() && doc_.is_seq(ps, "ports")) {
      for (std::size_t i = 0; i < ps.size(); ++i) {
        std::string p = index_path("ports", i);
        if (!doc_.is_map(ps[i], p)) continue;
        doc_.check_keys(ps[i], p, {"name", "port", "protocol", "appProtocol"});
        service_port_doc sp;
        sp.name = doc_.string_at(ps[i], "name", p, false).value_or("");
        sp.port =
            static_cast<std::uint16_t>(doc_.int_at(ps[i], "port", p, true, 1, 65535).value_or(0));
        s.ports.push_back(std::move(sp));
      }
    }
    slices_.push_back(std::move(s));
  }

  // Why a reference cannot be followed, as a Gateway API ResolvedRefs reason.
  struct unresolved {
    std::string reason;  // InvalidKind, RefNotPermitted, BackendNotFound
    std::string message;
  };

  // True when a ReferenceGrant in `to_ns` lets an HTTPRoute in `from_ns` refer
  // to the Service `name` there.
  bool granted(const std::string& from_ns, const std::string& to_ns,
               const std::string& name) const {
    for (const grant_doc& g : grants_) {
      if (g.m.ns != to_ns) continue;
      bool from_ok = std::any_of(g.from.begin(), g.from.end(), [&](const auto& f) {
        return f.group == gateway_api_group && f.kind == "HTTPRoute" && f.ns == from_ns;
      });
      bool to_ok = std::any_of(g.to.begin(), g.to.end(), [&](const auto& t) {
        return t.group.empty() && t.kind == "Service" && (t.name.empty() || t.name == name);
      });
      if (from_ok && to_ok) return true;
    }
    return false;
  }

  // The cluster for a backend reference (created on first use), or why there is none.
  std::variant<std::string, unresolved> cluster_for(
      const object_ref& b, const meta& from, document_reader& at,
      std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(0)) {
    const std::string what = b.ns + "/" + b.name;
    if (!b.group.empty() || b.kind != "Service")
      return unresolved{"InvalidKind", "backendRef kind '" + b.kind + "' in group '" + b.group +
                                           "' is not supported (only core Service)"};
    if (b.ns != from.ns && !granted(from.ns, b.ns, b.name))
      return unresolved{"RefNotPermitted", "Service " + what +
                                               " is in another namespace and no "
                                               "ReferenceGrant there allows HTTPRoutes from " +
                                               from.ns};
    const service_doc* svc = nullptr;
    for (const auto& s : services_)
      if (s.m.ns == b.ns && s.m.name == b.name) svc = &s;
    if (!svc) return unresolved{"BackendNotFound", "Service " + what + " not found in the config"};
    const service_port_doc* sp = nullptr;
    for (const auto& p : svc->ports)
      if (b.port_name.empty() ? p.port == b.port : p.name == b.port_name) sp = &p;
    if (!sp)
      return unresolved{"BackendNotFound", "Service " + what + " has no port " +
                                               (b.port_name.empty() ? std::to_string(b.port)
                                                                    : "named " + b.port_name)};
    // A different connect timeout (an Ingress annotation) makes a cluster of its own.
    std::string key = what + ":" + std::to_string(sp->port);
    if (connect_timeout.count() > 0)
      key += "#connect=" + std::to_string(connect_timeout.count()) + "ms";
    if (known_clusters_.count(key)) return key;
    cluster_config c;
    c.name = key;
    if (connect_timeout.count() > 0) c.connect_timeout = connect_timeout;
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

  // Whether listener `l` of `gw` admits routes from namespace `ns` (allowedRoutes).
  bool admits(const gateway_doc& gw, const listener_doc& l, const std::string& ns) const {
    if (l.from == "All") return true;
    if (l.from == "Same") return gw.m.ns == ns;
    // Selector: the namespace's labels, plus the name label Kubernetes sets on every namespace.
    std::map<std::string, std::string> labels;
    if (auto it = namespaces_.find(ns); it != namespaces_.end()) labels = it->second;
    labels["kubernetes.io/metadata.name"] = ns;
    return l.selector.matches(labels);
  }

  void resolve() {
    // GatewayClass selection: with no class in the file every Gateway is served.
    std::vector<const gateway_doc*> served;
    for (const auto& g : gateways_) {
      if (!classes_.empty()) {
        auto it = classes_.find(g.class_name);
        if (it == classes_.end() || it->second != controller_name) {
          out_.warnings.push_back("Gateway " + g.m.ns + "/" + g.m.name + ": class '" +
                                  g.class_name + "' is not handled by controller " +
                                  std::string(controller_name) + ": not served");
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
        points.push_back({g, &l, out_.listeners.size()});
        out_.listeners.push_back(std::move(lc));
      }
    }
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
      for (const auto& rd : r.rules) {
        route_rule rule = rd.rule;
        for (const auto& b : rd.backends) {
          auto c = cluster_for(b, r.m, at);
          if (auto* name = std::get_if<std::string>(&c)) {
            rule.backends.push_back({*name, b.weight, ""});
          } else {
            const auto& u = std::get<unresolved>(c);
            note_unresolved(b, u, ": requests for this backend get 500");
            rule.backends.push_back({"", b.weight, u.message});
          }
        }
        for (const auto& md : rd.mirrors) {
          auto c = cluster_for(md.backend, r.m, at);
          if (auto* name = std::get_if<std::string>(&c))
            rule.mirrors.push_back({*name, md.numerator, md.denominator});
          else
            note_unresolved(md.backend, std::get<unresolved>(c), ": nothing is mirrored there");
        }
        base.rules.push_back(std::move(rule));
      }
      bool attached = false;
      for (const auto& pr : r.parents) {
        route_status st{"HTTPRoute",
                        r.m.ns + "/" + r.m.name,
                        pr.ns + "/" + pr.name + (pr.section.empty() ? "" : "/" + pr.section),
                        {}};
        status_condition accepted{"Accepted", false, "NoMatchingParent", ""};
        bool gateway_found = false, listener_found = false, allowed = false;
        for (const auto& pt : points) {
          if (pt.gw->m.ns != pr.ns || pt.gw->m.name != pr.name) continue;
          gateway_found = true;
          if (!pr.section.empty() && pt.l->name != pr.section) continue;
          if (pr.port && pt.l->port != pr.port) continue;
          listener_found = true;
          if (!admits(*pt.gw, *pt.l, r.m.ns)) continue;
          allowed = true;
          route attached_route = base;
          if (!intersect_hostnames(pt.l->hostname, r.hostnames, attached_route.hostnames)) continue;
          out_.listeners[pt.index].routes.push_back(std::move(attached_route));
          accepted = {"Accepted", true, "Accepted", "attached"};
          attached = true;
        }
        bool known = std::any_of(gateways_.begin(), gateways_.end(), [&](const gateway_doc& g) {
          return g.m.ns == pr.ns && g.m.name == pr.name;
        });
        if (!known) {
          at.fail(pr.node, join_path(pr.path, "name"),
                  "Gateway " + pr.ns + "/" + pr.name + " not found in the config");
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
            accepted.message = "the listeners' allowedRoutes do not admit namespace " + r.m.ns;
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
    resolve_ingresses();
  }

  // Ingresses: with no IngressClass in the file every Ingress is served; with
  // some, those of a class whose controller is ours (a missing class name
  // means the default class).
  void resolve_ingresses() {
    std::vector<const manifests::ingress_doc*> served;
    for (auto& in : ingresses_) {
      if (!ingress_classes_.empty()) {
        std::string& cls = in.class_name;  // becomes the effective class
        if (cls.empty())
          for (const auto& [name, c] : ingress_classes_)
            if (c.is_default) cls = name;
        auto it = ingress_classes_.find(cls);
        if (it == ingress_classes_.end() || it->second.controller != controller_name) {
          out_.warnings.push_back("Ingress " + in.m.ns + "/" + in.m.name + ": class '" + cls +
                                  "' is not handled by controller " + std::string(controller_name) +
                                  ": not served");
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
        out_, issues_);
  }

  std::vector<config_issue>& issues_;
  gateway_config& out_;
  document_reader doc_;
  std::vector<gateway_doc> gateways_;
  std::vector<route_doc> routes_;
  std::vector<service_doc> services_;
  std::vector<slice_doc> slices_;
  std::vector<grant_doc> grants_;
  std::vector<manifests::ingress_doc> ingresses_;
  struct ingress_class {
    std::string controller;
    bool is_default = false;
  };
  std::map<std::string, ingress_class> ingress_classes_;
  std::map<std::string, std::map<std::string, std::string>> namespaces_;  // name -> labels
  std::map<std::string, std::string> classes_;
  std::set<std::string> known_clusters_;
};

std::string describe(const std::vector<config_issue>& issues, std::string_view source) {
  std::string all;
  for (const auto& i : issues) {
    if (!all.empty()) all += "\n";
    all += i.to_string(source);
  }
  return all;
}

}  // namespace

gateway_config load_yaml(std::string_view text, std::string_view /*source_name*/,
                         std::error_code& ec, std::vector<config_issue>& issues) {
  gateway_config out;
  issues.clear();
  loader(issues, out).load(text);
  if (issues.empty()) {
    // Catch what only shows once compiled (regexes, duplicate names).
    try {
      validate(out);
    } catch (const error& e) {
      issues.push_back({"config", "", 0, e.what()});
    }
  }
  ec = issues.empty() ? std::error_code() : make_error_code(errc::invalid_config);
  return out;
}

gateway_config load_yaml(std::string_view text, std::string_view source) {
  std::error_code ec;
  std::vector<config_issue> issues;
  gateway_config out = load_yaml(text, source, ec, issues);
  if (ec) throw error(errc::invalid_config, describe(issues, source));
  return out;
}

gateway_config load_yaml_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(errc::invalid_config, path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return load_yaml(text.str(), path);
}

}  // namespace gateway
