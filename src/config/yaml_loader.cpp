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
#include "config/policy_reader.hpp"
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

using manifests::gateway_doc;
using manifests::grant_doc;
using manifests::label_selector;
using manifests::listener_doc;
using manifests::meta;
using manifests::object_ref;
using manifests::route_doc;
using manifests::service_doc;
using manifests::service_port_doc;
using manifests::slice_doc;

class loader {
 public:
  loader(std::vector<config_issue>& issues, gateway_config& out, const filter_registry& filters)
      : issues_(issues), out_(out), doc_("", issues, out.warnings), registry_(filters) {}

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
        if (auto g = manifests::read_gateway(doc_, d, std::move(m)))
          gateways_.push_back(std::move(*g));
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
      if (require_api({"v1"}))
        if (auto sv = manifests::read_service(doc_, d, std::move(m)))
          services_.push_back(std::move(*sv));
    } else if (*kind == "EndpointSlice") {
      if (require_api({"discovery.k8s.io/v1"}))
        if (auto sl = manifests::read_slice(doc_, d, std::move(m)))
          slices_.push_back(std::move(*sl));
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
        policies_.push_back(manifests::read_policy(doc_, d, std::move(m), *kind));
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
          "unsupported kind '" + *kind +
              "' (supported: Gateway, GatewayClass, HTTPRoute, ReferenceGrant, Service, "
              "EndpointSlice, Backend, BackendTLSPolicy, Namespace, Secret, ConfigMap, Ingress, "
              "IngressClass, SecurityPolicy, "
              "BackendTrafficPolicy, ClientTrafficPolicy, WafPolicy, Filter)");
    }
  }

  // Why a reference cannot be followed, as a Gateway API ResolvedRefs reason.
  struct unresolved {
    std::string reason;  // InvalidKind, RefNotPermitted, BackendNotFound, UnsupportedProtocol
    std::string message;
  };

  // True when a ReferenceGrant in `to_ns` lets an HTTPRoute in `from_ns` refer
  // to the Service `name` there.
  bool granted(const std::string& from_ns, const std::string& to_ns, const std::string& name,
               std::string_view to_group = "", std::string_view to_kind = "Service",
               std::string_view from_kind = "HTTPRoute") const {
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

  // The cluster for a backend reference (created on first use), or why there is none.
  std::variant<std::string, unresolved> cluster_for(
      const object_ref& b, const meta& from, document_reader& at,
      std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(0),
      const manifests::policy_doc* settings = nullptr) {
    const std::string what = b.ns + "/" + b.name;
    const bool own = settings && settings->upstream && settings->upstream->cluster;
    if (b.group == manifests::envoy_gateway_group && b.kind == "Backend")
      return backend_cluster(b, from, own ? settings : nullptr);
    if (!b.group.empty() || b.kind != "Service")
      return unresolved{"InvalidKind", "backendRef kind '" + b.kind + "' in group '" + b.group +
                                           "' is not supported (core Service, or Backend of " +
                                           std::string(manifests::envoy_gateway_group) + ")"};
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
    // What the port speaks (Gateway API GEP-1911): HTTP/1.1 unless it says
    // HTTP/2, in plain text (h2c) or over TLS (h2, which a BackendTLSPolicy configures).
    upstream_protocol protocol = upstream_protocol::http1;
    const bool h2_over_tls = sp->app_protocol == "kubernetes.io/h2";
    if (sp->app_protocol == "kubernetes.io/h2c" || h2_over_tls)
      protocol = upstream_protocol::http2;
    else if (!sp->app_protocol.empty() && sp->app_protocol != "http" && sp->app_protocol != "https")
      return unresolved{"UnsupportedProtocol",
                        "Service " + what + " port " + std::to_string(sp->port) +
                            " has appProtocol '" + sp->app_protocol +
                            "', which the gateway does not speak (HTTP/1.1: none, 'http' or "
                            "'https'; HTTP/2: 'kubernetes.io/h2c', or 'kubernetes.io/h2' with a "
                            "BackendTLSPolicy)"};
    // A different connect timeout (an Ingress annotation) makes a cluster of its own.
    std::string key = what + ":" + std::to_string(sp->port);
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
                            " has appProtocol 'kubernetes.io/h2' (HTTP/2 over TLS) but no "
                            "BackendTLSPolicy covers it"};
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

  // The cluster of an Envoy Gateway Backend (created on first use).
  std::variant<std::string, unresolved> backend_cluster(const object_ref& b, const meta& from,
                                                        const manifests::policy_doc* settings) {
    const std::string what = b.ns + "/" + b.name;
    if (b.ns != from.ns &&
        !granted(from.ns, b.ns, b.name, manifests::envoy_gateway_group, "Backend"))
      return unresolved{"RefNotPermitted", "Backend " + what +
                                               " is in another namespace and no "
                                               "ReferenceGrant there allows HTTPRoutes from " +
                                               from.ns};
    const manifests::backend_doc* found = nullptr;
    for (const auto& be : backends_)
      if (be.m.ns == b.ns && be.m.name == b.name) found = &be;
    if (!found)
      return unresolved{"BackendNotFound", "Backend " + what + " not found in the config"};
    std::string key = "Backend " + what;
    if (settings) key += "@" + settings->m.ns + "/" + settings->m.name;
    if (known_clusters_.count(key)) return key;
    cluster_config c;
    c.name = key;
    if (settings) settings->upstream->apply(c);
    c.endpoints = found->endpoints;
    c.protocol = found->protocol;
    apply_backend_tls(std::string(manifests::envoy_gateway_group), "Backend", b.ns, b.name, "", c);
    known_clusters_.insert(key);
    out_.clusters.push_back(std::move(c));
    return key;
  }

  // The BackendTLSPolicy that covers a Service port (or a Backend): a policy
  // naming the port (sectionName) wins over one for the whole Service.
  void apply_backend_tls(const std::string& group, const std::string& kind, const std::string& ns,
                         const std::string& name, const std::string& port_name, cluster_config& c) {
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
        at.fail(r.node, r.path, r.kind + " " + ns + "/" + r.name + " not found in the config");
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
                  "Secret " + ns + "/" + chosen->client_certificate->name +
                      " needs tls.crt and tls.key");
        else {
          c.tls.client_cert_pem = crt->second;
          c.tls.client_key_pem = key->second;
        }
      }
  }

  // Appends the `ca.crt` of ConfigMap or Secret `ns`/`name` to `into`; a
  // missing object or key is an error at `node`.
  void add_ca_bundle(const std::string& kind, const std::string& ns, const std::string& name,
                     const YAML::Node& node, const std::string& path, document_reader& at,
                     std::string& into) {
    const auto& store = kind == "ConfigMap" ? config_maps_ : secrets_;
    auto it = store.find(ns + "/" + name);
    if (it == store.end()) {
      at.fail(node, path, kind + " " + ns + "/" + name + " not found in the config");
      return;
    }
    auto ca = it->second.find("ca.crt");
    if (ca == it->second.end())
      at.fail(node, path, kind + " " + ns + "/" + name + " has no ca.crt");
    else
      into += ca->second;
  }

  // A TLS Secret's certificate: PEM in tls.crt/tls.key (tls.ocsp: an OCSP
  // response, DER), or the files its annotations name.
  std::optional<tls_certificate> secret_certificate(const std::string& ns, const std::string& name,
                                                    const YAML::Node& node, const std::string& path,
                                                    document_reader& at) {
    auto it = secrets_.find(ns + "/" + name);
    if (it == secrets_.end()) {
      at.fail(node, path, "Secret " + ns + "/" + name + " not found in the config");
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
              "Secret " + ns + "/" + name +
                  " needs tls.crt and tls.key (or the gateway.dev/certificate-file and "
                  "gateway.dev/key-file annotations)");
      return std::nullopt;
    }
    return c;
  }

  // An HTTPS listener's certificates, and the TLS side of its ClientTrafficPolicy.
  void apply_listener_tls(const gateway_doc& gw, const listener_doc& l,
                          const manifests::policy_doc* policy, listener_config& lc) {
    document_reader at("Gateway " + gw.m.ns + "/" + gw.m.name, issues_, out_.warnings);
    const manifests::client_tls_settings* settings = policy ? &policy->client_tls : nullptr;
    if (settings && settings->forward_client_cert)
      lc.forward_client_cert = *settings->forward_client_cert;
    if (!l.https) {
      if (settings && settings->tls) {
        document_reader pat(policy->label, issues_, out_.warnings);
        pat.warn(settings->node, "spec.tls",
                 "listener " + lc.name + " is plain HTTP: its TLS settings have no effect there");
      }
      return;
    }
    listener_tls_config tls = settings && settings->tls ? *settings->tls : listener_tls_config{};
    for (const object_ref& r : l.certificate_refs) {
      if (r.ns != gw.m.ns && !granted(gw.m.ns, r.ns, r.name, "", "Secret", "Gateway")) {
        at.fail(r.node, r.path,
                "Secret " + r.ns + "/" + r.name +
                    " is in another namespace and no ReferenceGrant there allows Gateways from " +
                    gw.m.ns);
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
    lc.tls = std::move(tls);
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
            if (endpoints.empty()) error = "Service " + ns + "/" + name + " has no ready endpoints";
            return endpoints;
          });
    }
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
        apply_listener_tls(*g, l, client_policy, lc);
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
          for (std::size_t i = 0; i < attached_route.rules.size(); ++i) {
            route_rule& rule = attached_route.rules[i];
            rule.filters = chain_for(r, r.rules[i], *pt.gw, *pt.l, at);
            apply_backend_policy(r, r.rules[i], *pt.gw, *pt.l, rule, at);
            for (std::size_t v = 0; v < rule.backend_variants.size(); ++v) {
              const manifests::rule_doc& vd = r.rules[i].variants[v];
              rule.backend_variants[v].filters = chain_for(r, vd, *pt.gw, *pt.l, at);
              apply_backend_policy(r, vd, *pt.gw, *pt.l, rule.backend_variants[v], at);
            }
          }
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
    drop_unused_clusters();
  }

  // A Service's plain cluster is made when a reference is first resolved; a
  // BackendTrafficPolicy may then move every route to a cluster of its own,
  // and a policy may have looked endpoints up. Clusters no rule uses go.
  void drop_unused_clusters() {
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

  // The upstream side of the BackendTrafficPolicy that applies to a rule on a
  // listener: its retry and request timeout (where the rule has none of its
  // own), and clusters with its balancing, health checks and limits.
  void apply_backend_policy(const route_doc& r, const manifests::rule_doc& rd,
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

  // 4: `p` targets this rule, 3: the route, 2: this listener, 1: the Gateway, 0: none.
  static int target_level(const manifests::policy_doc& p, const route_doc& r,
                          const manifests::rule_doc& rd, const gateway_doc& gw,
                          const listener_doc& l) {
    int best = 0;
    for (const manifests::target_ref& t : p.targets) {
      if (t.kind == "HTTPRoute" && p.m.ns == r.m.ns && t.name == r.m.name) {
        if (t.section.empty())
          best = std::max(best, 3);
        else if (t.section == rd.rule.name)
          best = std::max(best, 4);
      } else if (t.kind == "Gateway" && p.m.ns == gw.m.ns && t.name == gw.m.name) {
        if (t.section.empty())
          best = std::max(best, 1);
        else if (t.section == l.name)
          best = std::max(best, 2);
      }
    }
    return best;
  }

  // The policy of `kind` that applies to one rule on one listener: the most
  // specific target wins; at equal specificity the older one (Gateway API
  // conflict rules), then by name.
  const manifests::policy_doc* most_specific(std::string_view kind, const route_doc& r,
                                             const manifests::rule_doc& rd, const gateway_doc& gw,
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

  // The filters of one rule on one listener: the most specific SecurityPolicy,
  // BackendTrafficPolicy and WafPolicy (rule, route, listener, Gateway), then
  // Filter objects that target it (Gateway, listener, route, rule), then the
  // rule's ExtensionRef filters in order. The WAF comes after authentication
  // and rate limits (they are cheap and spare it work) and after compression,
  // so that its response hooks, which run in reverse, see the body unencoded.
  std::vector<filter_ref> chain_for(const route_doc& r, const manifests::rule_doc& rd,
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
                "Filter " + ext.ns + "/" + ext.name + " not found in the config");
        continue;
      }
      chain.insert(chain.end(), found->filters.begin(), found->filters.end());
    }
    return chain;
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
        [this](const std::string& ns, const std::string& name, const YAML::Node& node,
               const std::string& path,
               document_reader& at) { return secret_certificate(ns, name, node, path, at); },
        out_, issues_);
  }

  std::vector<config_issue>& issues_;
  gateway_config& out_;
  document_reader doc_;
  std::vector<gateway_doc> gateways_;
  std::vector<route_doc> routes_;
  std::vector<service_doc> services_;
  std::vector<slice_doc> slices_;
  std::vector<manifests::backend_doc> backends_;
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
  std::vector<manifests::policy_doc> policies_;  // SecurityPolicy, BackendTrafficPolicy, Filter
  std::map<std::string, manifests::secret_data> secrets_;      // "namespace/name"
  std::map<std::string, manifests::secret_data> config_maps_;  // "namespace/name"
  std::vector<manifests::backend_tls_doc> tls_policies_;
  const filter_registry& registry_;
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

gateway_config load_yaml(std::string_view text, std::string_view source_name, std::error_code& ec,
                         std::vector<config_issue>& issues) {
  return load_yaml(text, source_name, filter_registry::builtin(), ec, issues);
}

gateway_config load_yaml(std::string_view text, std::string_view /*source_name*/,
                         const filter_registry& filters, std::error_code& ec,
                         std::vector<config_issue>& issues) {
  gateway_config out;
  issues.clear();
  loader(issues, out, filters).load(text);
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
  if (!in) throw error(errc::invalid_config, path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return load_yaml(text.str(), path, filters);
}

}  // namespace gateway
