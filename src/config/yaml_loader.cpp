// Loads Kubernetes manifests (Gateway API Gateway/HTTPRoute/GatewayClass,
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

#include "config/yaml_documents.hpp"
#include "router/host_name.hpp"

namespace gateway {
namespace {

using yaml_config::document_reader;
using yaml_config::index_path;
using yaml_config::join_path;

constexpr std::string_view controller_name = "gateway.dev/gatewayd";
constexpr std::string_view gateway_api_group = "gateway.networking.k8s.io";
const std::initializer_list<std::string_view> metadata_keys = {"name", "namespace", "labels",
                                                               "annotations", "creationTimestamp"};
const std::initializer_list<std::string_view> metadata_inert = {
    "uid", "resourceVersion", "generation", "managedFields", "finalizers", "ownerReferences"};

struct meta {
  std::string ns = "default";
  std::string name;
  std::string created;  // RFC 3339, compared as text
  std::map<std::string, std::string> labels;
};

struct listener_doc {
  std::string name;
  std::uint16_t port = 0;
  std::string hostname;
  std::string from = "Same";
};
struct gateway_doc {
  meta m;
  std::string class_name;
  std::string address = "0.0.0.0";
  std::vector<listener_doc> listeners;
};
struct parent_ref_doc {
  std::string ns, name, section;
  std::uint16_t port = 0;
  YAML::Node node;
  std::string path;
};
struct backend_ref_doc {
  std::string ns, name;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;
  YAML::Node node;
  std::string path;
};
struct rule_doc {
  route_rule rule;  // matches and timeout; backends filled at resolution
  std::vector<backend_ref_doc> backends;
};
struct route_doc {
  meta m;
  std::string label;
  std::vector<parent_ref_doc> parents;
  std::vector<std::string> hostnames;
  std::vector<rule_doc> rules;
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
        read_route(d, std::move(m));
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
    } else if (*kind == "Namespace") {
      if (require_api({"v1"}))
        doc_.check_keys(d, "", {"apiVersion", "kind", "metadata"}, {"spec", "status"});
    } else {
      doc_.fail(
          d["kind"], "kind",
          "unsupported kind '" + *kind +
              "' (supported: Gateway, GatewayClass, HTTPRoute, Service, EndpointSlice, Namespace)");
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
          doc_.check_keys(ns, np, {"from"});
          ld.from = doc_.string_at(ns, "from", np, false).value_or("Same");
          doc_.one_of(ns["from"], join_path(np, "from"), ld.from, {"Same", "All"});
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

  void read_match(const YAML::Node& mn, const std::string& p, route_match& rm) {
    doc_.check_keys(mn, p, {"path", "headers", "queryParams", "method"});
    if (YAML::Node pn = mn["path"]; pn.IsDefined() && doc_.is_map(pn, join_path(p, "path"))) {
      std::string pp = join_path(p, "path");
      doc_.check_keys(pn, pp, {"type", "value"});
      std::string type = doc_.string_at(pn, "type", pp, false).value_or("PathPrefix");
      if (doc_.one_of(pn["type"], join_path(pp, "type"), type,
                      {"Exact", "PathPrefix", "RegularExpression"}))
        rm.path.type = type == "Exact"        ? path_match_type::exact
                       : type == "PathPrefix" ? path_match_type::prefix
                                              : path_match_type::regex;
      rm.path.value = doc_.string_at(pn, "value", pp, false).value_or("/");
      if (rm.path.type != path_match_type::regex &&
          (rm.path.value.empty() || rm.path.value[0] != '/'))
        doc_.fail(pn["value"], join_path(pp, "value"), "must start with '/'");
    }
    if (auto method = doc_.string_at(mn, "method", p, false)) {
      if (doc_.one_of(
              mn["method"], join_path(p, "method"), *method,
              {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}))
        rm.method = *method;
    }
    auto read_values = [&](const char* key, auto& out) {
      YAML::Node list = mn[key];
      std::string lp = join_path(p, key);
      if (!list.IsDefined() || !doc_.is_seq(list, lp)) return;
      for (std::size_t i = 0; i < list.size(); ++i) {
        std::string ip = index_path(lp, i);
        if (!doc_.is_map(list[i], ip)) continue;
        doc_.check_keys(list[i], ip, {"type", "name", "value"});
        typename std::decay_t<decltype(out)>::value_type v;
        std::string type = doc_.string_at(list[i], "type", ip, false).value_or("Exact");
        if (doc_.one_of(list[i]["type"], join_path(ip, "type"), type,
                        {"Exact", "RegularExpression"}))
          v.type = type == "Exact" ? value_match_type::exact : value_match_type::regex;
        v.name = doc_.string_at(list[i], "name", ip, true).value_or("");
        v.value = doc_.string_at(list[i], "value", ip, true).value_or("");
        out.push_back(std::move(v));
      }
    };
    read_values("headers", rm.headers);
    read_values("queryParams", rm.query_params);
  }

  void read_route(const YAML::Node& d, meta m) {
    doc_.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
    const YAML::Node spec = d["spec"];
    if (!doc_.is_map(spec, "spec")) return;
    doc_.check_keys(spec, "spec", {"parentRefs", "hostnames", "rules"});
    route_doc r;
    r.m = std::move(m);
    r.label = doc_.label();
    if (YAML::Node ps = spec["parentRefs"]; ps.IsDefined() && doc_.is_seq(ps, "spec.parentRefs")) {
      for (std::size_t i = 0; i < ps.size(); ++i) {
        std::string p = index_path("spec.parentRefs", i);
        if (!doc_.is_map(ps[i], p)) continue;
        doc_.check_keys(ps[i], p, {"group", "kind", "namespace", "name", "sectionName", "port"});
        std::string group =
            doc_.string_at(ps[i], "group", p, false).value_or(std::string(gateway_api_group));
        std::string kind = doc_.string_at(ps[i], "kind", p, false).value_or("Gateway");
        doc_.one_of(ps[i]["group"], join_path(p, "group"), group, {gateway_api_group});
        doc_.one_of(ps[i]["kind"], join_path(p, "kind"), kind, {"Gateway"});
        parent_ref_doc pr;
        pr.ns = doc_.string_at(ps[i], "namespace", p, false).value_or(r.m.ns);
        pr.name = doc_.string_at(ps[i], "name", p, true).value_or("");
        pr.section = doc_.string_at(ps[i], "sectionName", p, false).value_or("");
        pr.port =
            static_cast<std::uint16_t>(doc_.int_at(ps[i], "port", p, false, 1, 65535).value_or(0));
        pr.node = ps[i];
        pr.path = p;
        r.parents.push_back(std::move(pr));
      }
    }
    if (YAML::Node hs = spec["hostnames"]; hs.IsDefined() && doc_.is_seq(hs, "spec.hostnames")) {
      for (std::size_t i = 0; i < hs.size(); ++i) {
        std::string h = hs[i].Scalar();
        if (!valid_route_hostname(h))
          doc_.fail(hs[i], index_path("spec.hostnames", i), "invalid hostname '" + h + "'");
        else
          r.hostnames.push_back(lowercase_host(h));
      }
    }
    YAML::Node rules = spec["rules"];
    if (!rules.IsDefined()) {  // Gateway API default: one rule, PathPrefix "/", no backends
      r.rules.emplace_back();
    } else if (doc_.is_seq(rules, "spec.rules")) {
      for (std::size_t i = 0; i < rules.size(); ++i) {
        std::string p = index_path("spec.rules", i);
        if (!doc_.is_map(rules[i], p)) continue;
        doc_.check_keys(rules[i], p, {"name", "matches", "backendRefs", "timeouts"});
        rule_doc rd;
        rd.rule.name = doc_.string_at(rules[i], "name", p, false).value_or("");
        if (YAML::Node ms = rules[i]["matches"];
            ms.IsDefined() && doc_.is_seq(ms, join_path(p, "matches"))) {
          for (std::size_t k = 0; k < ms.size(); ++k) {
            std::string mp = index_path(join_path(p, "matches"), k);
            if (!doc_.is_map(ms[k], mp)) continue;
            read_match(ms[k], mp, rd.rule.matches.emplace_back());
          }
        }
        if (YAML::Node t = rules[i]["timeouts"];
            t.IsDefined() && doc_.is_map(t, join_path(p, "timeouts"))) {
          std::string tp = join_path(p, "timeouts");
          doc_.check_keys(t, tp, {"request", "backendRequest"});
          auto req = doc_.duration_at(t, "request", tp);
          auto back = doc_.duration_at(t, "backendRequest", tp);
          // One deadline covers both here: the shorter one applies.
          if (req && back)
            rd.rule.request_timeout = std::min(*req, *back);
          else if (req)
            rd.rule.request_timeout = *req;
          else if (back)
            rd.rule.request_timeout = *back;
        }
        if (YAML::Node bs = rules[i]["backendRefs"];
            bs.IsDefined() && doc_.is_seq(bs, join_path(p, "backendRefs"))) {
          for (std::size_t k = 0; k < bs.size(); ++k) {
            std::string bp = index_path(join_path(p, "backendRefs"), k);
            if (!doc_.is_map(bs[k], bp)) continue;
            doc_.check_keys(bs[k], bp, {"group", "kind", "name", "namespace", "port", "weight"});
            std::string group = doc_.string_at(bs[k], "group", bp, false).value_or("");
            std::string kind = doc_.string_at(bs[k], "kind", bp, false).value_or("Service");
            doc_.one_of(bs[k]["group"], join_path(bp, "group"), group, {""});
            doc_.one_of(bs[k]["kind"], join_path(bp, "kind"), kind, {"Service"});
            backend_ref_doc b;
            b.name = doc_.string_at(bs[k], "name", bp, true).value_or("");
            b.ns = doc_.string_at(bs[k], "namespace", bp, false).value_or(r.m.ns);
            if (b.ns != r.m.ns)
              doc_.fail(
                  bs[k]["namespace"], join_path(bp, "namespace"),
                  "cross-namespace backendRefs need a ReferenceGrant, which is not supported yet");
            b.port = static_cast<std::uint16_t>(
                doc_.int_at(bs[k], "port", bp, true, 1, 65535).value_or(0));
            b.weight = static_cast<std::uint32_t>(
                doc_.int_at(bs[k], "weight", bp, false, 0, 1000000).value_or(1));
            b.node = bs[k];
            b.path = bp;
            rd.backends.push_back(std::move(b));
          }
        }
        r.rules.push_back(std::move(rd));
      }
    }
    routes_.push_back(std::move(r));
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

  // Cluster for Service ns/name port `port`, created on first reference.
  std::optional<std::string> cluster_for(const backend_ref_doc& b, document_reader& at) {
    std::string key = b.ns + "/" + b.name + ":" + std::to_string(b.port);
    if (known_clusters_.count(key)) return key;
    const service_doc* svc = nullptr;
    for (const auto& s : services_)
      if (s.m.ns == b.ns && s.m.name == b.name) svc = &s;
    if (!svc) {
      at.fail(b.node, join_path(b.path, "name"),
              "Service " + b.ns + "/" + b.name + " not found in the config");
      return std::nullopt;
    }
    const service_port_doc* sp = nullptr;
    for (const auto& p : svc->ports)
      if (p.port == b.port) sp = &p;
    if (!sp) {
      at.fail(b.node, join_path(b.path, "port"),
              "Service " + b.ns + "/" + b.name + " has no port " + std::to_string(b.port));
      return std::nullopt;
    }
    cluster_config c;
    c.name = key;
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
              "Service " + b.ns + "/" + b.name + " port " + std::to_string(b.port) +
                  " has no ready EndpointSlice endpoints: its requests get 503");
    known_clusters_.insert(key);
    out_.clusters.push_back(std::move(c));
    return key;
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
      for (const auto& rd : r.rules) {
        route_rule rule = rd.rule;
        for (const auto& b : rd.backends) {
          if (auto c = cluster_for(b, at)) rule.backends.push_back({*c, b.weight});
        }
        base.rules.push_back(std::move(rule));
      }
      bool attached = false;
      for (const auto& pr : r.parents) {
        bool gateway_found = false;
        for (const auto& pt : points) {
          if (pt.gw->m.ns != pr.ns || pt.gw->m.name != pr.name) continue;
          gateway_found = true;
          if (!pr.section.empty() && pt.l->name != pr.section) continue;
          if (pr.port && pt.l->port != pr.port) continue;
          if (pt.l->from == "Same" && pt.gw->m.ns != r.m.ns) continue;
          route attached_route = base;
          if (!intersect_hostnames(pt.l->hostname, r.hostnames, attached_route.hostnames)) continue;
          out_.listeners[pt.index].routes.push_back(std::move(attached_route));
          attached = true;
        }
        bool known = std::any_of(gateways_.begin(), gateways_.end(), [&](const gateway_doc& g) {
          return g.m.ns == pr.ns && g.m.name == pr.name;
        });
        if (!known)
          at.fail(pr.node, join_path(pr.path, "name"),
                  "Gateway " + pr.ns + "/" + pr.name + " not found in the config");
        else if (!gateway_found)
          at.warn(pr.node, pr.path,
                  "Gateway " + pr.ns + "/" + pr.name + " is not served (GatewayClass)");
      }
      if (!attached && !r.parents.empty())
        at.warn(YAML::Node(), "spec.parentRefs",
                "route attaches to no listener (sectionName, port, allowedRoutes or hostnames "
                "exclude it)");
      if (r.parents.empty())
        at.warn(YAML::Node(), "spec.parentRefs", "route has no parentRefs and serves nothing");
    }
  }

  std::vector<config_issue>& issues_;
  gateway_config& out_;
  document_reader doc_;
  std::vector<gateway_doc> gateways_;
  std::vector<route_doc> routes_;
  std::vector<service_doc> services_;
  std::vector<slice_doc> slices_;
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
