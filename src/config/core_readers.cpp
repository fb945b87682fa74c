// Reading the core documents: Gateway, Service, EndpointSlice, and Envoy
// Gateway's Backend.
#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <set>

#include "config/manifests.hpp"
#include "router/host_name.hpp"

namespace gateway::manifests {

using yaml_config::document_reader;
using yaml_config::index_path;
using yaml_config::join_path;

namespace {
// A listener's `tls`: Terminate with Secrets (checked once the Secrets are
// known), or Passthrough on a TLS listener.
void read_listener_tls(document_reader& doc, const YAML::Node& l, const std::string& p,
                       const std::string& gateway_ns, listener_doc& ld) {
  const YAML::Node tls = l["tls"];
  const std::string tp = join_path(p, "tls");
  const bool tls_protocol = ld.protocol == "TLS";
  if (!tls.IsDefined()) {
    if (ld.protocol == "HTTPS" || tls_protocol)
      doc.fail(l, tp,
               fmt::format("{} listener needs tls (mode and certificateRefs)",
                           ld.protocol == "HTTPS" ? "an HTTPS" : "a TLS"));
    return;
  }
  if (!ld.https && !tls_protocol) {
    doc.fail(tls, tp, "tls is only used with protocol HTTPS or TLS");
    return;
  }
  if (!doc.is_map(tls, tp)) return;
  doc.check_keys(tls, tp, {"mode", "certificateRefs", "options", "frontendValidation"});
  std::string mode = doc.string_at(tls, "mode", tp, false).value_or("Terminate");
  if (mode == "Passthrough" && !tls_protocol)
    doc.fail(tls["mode"], join_path(tp, "mode"),
             "mode Passthrough needs protocol TLS (with TLSRoutes); HTTPS terminates TLS");
  else
    doc.one_of(tls["mode"], join_path(tp, "mode"), mode, {"Terminate", "Passthrough"});
  ld.passthrough = mode == "Passthrough";
  ld.https = !ld.passthrough;
  if (YAML::Node fv = tls["frontendValidation"]; fv.IsDefined())
    doc.fail(fv, join_path(tp, "frontendValidation"),
             "use a ClientTrafficPolicy's tls.clientValidation for client certificates");
  if (YAML::Node options = tls["options"];
      options.IsDefined() && doc.is_map(options, join_path(tp, "options")) && options.size() > 0)
    doc.fail(options, join_path(tp, "options"),
             "no TLS options are defined here; TLS settings come from a ClientTrafficPolicy");
  if (ld.passthrough) {
    if (YAML::Node refs = tls["certificateRefs"];
        refs.IsDefined() && (!refs.IsSequence() || refs.size() > 0))
      doc.fail(refs, join_path(tp, "certificateRefs"),
               "mode Passthrough leaves TLS to the backends: no certificate here");
    return;
  }
  const YAML::Node refs = tls["certificateRefs"];
  const std::string rp = join_path(tp, "certificateRefs");
  if (!refs.IsDefined() || (refs.IsSequence() && refs.size() == 0)) {
    doc.fail(tls, rp,
             fmt::format("{} needs at least one certificate",
                         ld.protocol == "HTTPS" ? "an HTTPS listener"
                                                : "a TLS listener in mode Terminate"));
    return;
  }
  for (object_ref& r : read_object_refs(doc, refs, rp, "Secret", gateway_ns)) {
    if (!r.group.empty() || r.kind != "Secret")
      doc.fail(r.node, r.path, "a certificateRef is a core Secret (group \"\", kind Secret)");
    else
      ld.certificate_refs.push_back(std::move(r));
  }
}
}  // namespace

std::vector<std::string> route_kinds_of(const listener_doc& l) {
  if (l.protocol == "TCP") return {"TCPRoute"};
  if (l.protocol == "TLS") {
    if (l.passthrough) return {"TLSRoute"};
    return {"TLSRoute", "TCPRoute"};
  }
  return {"HTTPRoute", "GRPCRoute"};
}

std::vector<object_ref> read_object_refs(document_reader& doc, const YAML::Node& refs,
                                         const std::string& path, const std::string& kind,
                                         const std::string& ns) {
  std::vector<object_ref> out;
  if (!doc.is_seq(refs, path)) return out;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    std::string p = index_path(path, i);
    if (!doc.is_map(refs[i], p)) continue;
    doc.check_keys(refs[i], p, {"group", "kind", "name", "namespace"});
    object_ref r;
    r.group = doc.string_at(refs[i], "group", p, false).value_or("");
    r.kind = doc.string_at(refs[i], "kind", p, false).value_or(kind);
    r.name = doc.string_at(refs[i], "name", p, true).value_or("");
    r.ns = doc.string_at(refs[i], "namespace", p, false).value_or(ns);
    r.node = refs[i];
    r.path = std::move(p);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<gateway_doc> read_gateway(document_reader& doc, const YAML::Node& d, meta m) {
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  const YAML::Node spec = d["spec"];
  if (!doc.is_map(spec, "spec")) return std::nullopt;
  doc.check_keys(spec, "spec", {"gatewayClassName", "listeners", "addresses"});
  gateway_doc g;
  g.m = std::move(m);
  g.class_name = doc.string_at(spec, "gatewayClassName", "spec", true).value_or("");
  if (YAML::Node addrs = spec["addresses"];
      addrs.IsDefined() && doc.is_seq(addrs, "spec.addresses")) {
    for (std::size_t i = 0; i < addrs.size(); ++i) {
      std::string p = index_path("spec.addresses", i);
      if (!doc.is_map(addrs[i], p)) continue;
      doc.check_keys(addrs[i], p, {"type", "value"});
      std::string type = doc.string_at(addrs[i], "type", p, false).value_or("IPAddress");
      if (!doc.one_of(addrs[i]["type"], join_path(p, "type"), type, {"IPAddress"})) continue;
      if (i > 0) {
        doc.fail(addrs[i], p, "only one address per Gateway is supported");
        continue;
      }
      g.address = doc.string_at(addrs[i], "value", p, true).value_or("0.0.0.0");
    }
  }
  YAML::Node ls = spec["listeners"];
  if (!ls.IsDefined()) {
    doc.fail(spec, "spec.listeners", "required field is missing");
    return std::nullopt;
  }
  if (!doc.is_seq(ls, "spec.listeners")) return std::nullopt;
  std::set<std::string> names;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    std::string p = index_path("spec.listeners", i);
    const YAML::Node l = ls[i];
    if (!doc.is_map(l, p)) continue;
    doc.check_keys(l, p, {"name", "port", "protocol", "hostname", "allowedRoutes", "tls"});
    listener_doc ld;
    ld.name = doc.string_at(l, "name", p, true).value_or("");
    if (!names.insert(ld.name).second)
      doc.fail(l["name"], join_path(p, "name"), "duplicate listener name");
    ld.port = static_cast<std::uint16_t>(doc.int_at(l, "port", p, true, 1, 65535).value_or(0));
    ld.protocol = doc.string_at(l, "protocol", p, true).value_or("HTTP");
    doc.one_of(l["protocol"], join_path(p, "protocol"), ld.protocol,
               {"HTTP", "HTTPS", "TCP", "TLS"});
    ld.https = ld.protocol == "HTTPS";
    read_listener_tls(doc, l, p, g.m.ns, ld);
    if (auto h = doc.string_at(l, "hostname", p, false)) {
      if (!valid_route_hostname(*h))
        doc.fail(l["hostname"], join_path(p, "hostname"), fmt::format("invalid hostname '{}'", *h));
      else if (ld.protocol == "TCP")  // nothing in a TCP connection names a host
        doc.fail(l["hostname"], join_path(p, "hostname"),
                 "a TCP listener has no hostname (use protocol TLS to route by SNI)");
      ld.hostname = lowercase_host(*h);
    }
    if (YAML::Node ar = l["allowedRoutes"];
        ar.IsDefined() && doc.is_map(ar, join_path(p, "allowedRoutes"))) {
      std::string ap = join_path(p, "allowedRoutes");
      doc.check_keys(ar, ap, {"namespaces", "kinds"});
      if (YAML::Node ns = ar["namespaces"];
          ns.IsDefined() && doc.is_map(ns, join_path(ap, "namespaces"))) {
        std::string np = join_path(ap, "namespaces");
        doc.check_keys(ns, np, {"from", "selector"});
        ld.from = doc.string_at(ns, "from", np, false).value_or("Same");
        doc.one_of(ns["from"], join_path(np, "from"), ld.from, {"Same", "All", "Selector"});
        YAML::Node sel = ns["selector"];
        if (ld.from == "Selector" && !sel.IsDefined())
          doc.fail(ns, join_path(np, "selector"), "required when from is Selector");
        else if (ld.from != "Selector" && sel.IsDefined())
          doc.fail(sel, join_path(np, "selector"), "only used when from is Selector");
        else if (sel.IsDefined())
          ld.selector = read_selector(doc, sel, join_path(np, "selector"));
      }
      if (YAML::Node kinds = ar["kinds"];
          kinds.IsDefined() && doc.is_seq(kinds, join_path(ap, "kinds"))) {
        for (std::size_t k = 0; k < kinds.size(); ++k) {
          std::string kp = index_path(join_path(ap, "kinds"), k);
          if (!doc.is_map(kinds[k], kp)) continue;
          doc.check_keys(kinds[k], kp, {"group", "kind"});
          std::string group =
              doc.string_at(kinds[k], "group", kp, false).value_or(std::string(gateway_api_group));
          doc.one_of(kinds[k]["group"], join_path(kp, "group"), group, {gateway_api_group});
          std::string kind = doc.string_at(kinds[k], "kind", kp, true).value_or("");
          const std::vector<std::string> carried = route_kinds_of(ld);
          if (std::find(carried.begin(), carried.end(), kind) != carried.end()) {
            ld.kinds.push_back(kind);
          } else {
            std::string names;
            for (const std::string& c : carried)
              names += (names.empty() ? "" : ", ") + c;
            doc.fail(kinds[k]["kind"], join_path(kp, "kind"),
                     fmt::format("a {}{} listener carries {}, not '{}'", ld.protocol,
                                 (ld.passthrough ? " Passthrough" : ""), names, kind));
          }
        }
      }
    }
    g.listeners.push_back(std::move(ld));
  }
  return g;
}

std::optional<service_doc> read_service(document_reader& doc, const YAML::Node& d, meta m) {
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  const YAML::Node spec = d["spec"];
  if (!doc.is_map(spec, "spec")) return std::nullopt;
  // Endpoints come from EndpointSlices here; the fields that pick pods or
  // cluster addresses have nothing to act on in one process.
  doc.check_keys(spec, "spec", {"ports", "type", "externalName"},
                 {"selector", "clusterIP", "clusterIPs", "sessionAffinity", "ipFamilies",
                  "ipFamilyPolicy", "internalTrafficPolicy"});
  service_doc s;
  const std::string type = doc.string_at(spec, "type", "spec", false).value_or("ClusterIP");
  doc.one_of(spec["type"], "spec.type", type, {"ClusterIP", "ExternalName"});
  // ExternalName: the Service is a DNS name; its ports are the name's.
  if (type == "ExternalName")
    s.external_name = doc.string_at(spec, "externalName", "spec", true).value_or("");
  else if (spec["externalName"].IsDefined())
    doc.fail(spec["externalName"], "spec.externalName", "only used when type is ExternalName");
  s.m = std::move(m);
  if (YAML::Node ps = spec["ports"]; ps.IsDefined() && doc.is_seq(ps, "spec.ports")) {
    for (std::size_t i = 0; i < ps.size(); ++i) {
      std::string p = index_path("spec.ports", i);
      if (!doc.is_map(ps[i], p)) continue;
      doc.check_keys(ps[i], p, {"name", "port", "protocol", "appProtocol"}, {"targetPort"});
      service_port_doc sp;
      sp.name = doc.string_at(ps[i], "name", p, false).value_or("");
      sp.port =
          static_cast<std::uint16_t>(doc.int_at(ps[i], "port", p, true, 1, 65535).value_or(0));
      if (auto proto = doc.string_at(ps[i], "protocol", p, false))
        doc.one_of(ps[i]["protocol"], join_path(p, "protocol"), *proto, {"TCP"});
      // Checked where a route uses the port (an unknown one is the route's
      // UnsupportedProtocol, as the Gateway API asks).
      sp.app_protocol = doc.string_at(ps[i], "appProtocol", p, false).value_or("");
      s.ports.push_back(std::move(sp));
    }
  }
  return s;
}

std::optional<backend_doc> read_backend(document_reader& doc, const YAML::Node& d, meta m) {
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  const YAML::Node spec = d["spec"];
  if (!doc.is_map(spec, "spec")) return std::nullopt;
  doc.check_keys(spec, "spec", {"type", "endpoints", "appProtocols", "fallback", "tls"});
  const std::string type = doc.string_at(spec, "type", "spec", false).value_or("Endpoints");
  if (type != "Endpoints")
    doc.fail(spec["type"], "spec.type",
             fmt::format("type '{}' is not supported (only Endpoints)", type));
  upstream_protocol protocol = upstream_protocol::http1;
  if (YAML::Node ap = spec["appProtocols"]; ap.IsDefined() && doc.is_seq(ap, "spec.appProtocols")) {
    for (std::size_t i = 0; i < ap.size(); ++i) {
      const std::string p = index_path("spec.appProtocols", i);
      const std::string v = ap[i].IsScalar() ? ap[i].Scalar() : "";
      if (v == "gateway.envoyproxy.io/h2c")
        protocol = upstream_protocol::http2;
      else if (v == "gateway.envoyproxy.io/ws" || v == "gateway.envoyproxy.io/wss")
        doc.fail(ap[i], p, "WebSocket backends are not supported yet");
      else
        doc.fail(ap[i], p,
                 fmt::format("appProtocol '{}{}", v,
                             "' is not one of gateway.envoyproxy.io/h2c, "
                             "gateway.envoyproxy.io/ws, gateway.envoyproxy.io/wss"));
    }
  }
  if (spec["fallback"].IsDefined())
    doc.fail(spec["fallback"], "spec.fallback", "fallback backends are not supported yet");
  if (spec["tls"].IsDefined())
    doc.fail(spec["tls"], "spec.tls", "TLS to a Backend is not supported yet");
  backend_doc b;
  b.m = std::move(m);
  b.protocol = protocol;
  YAML::Node es = spec["endpoints"];
  if (!es.IsDefined()) {
    doc.fail(spec, "spec.endpoints", "required field is missing");
    return b;
  }
  if (!doc.is_seq(es, "spec.endpoints")) return b;
  for (std::size_t i = 0; i < es.size(); ++i) {
    const std::string p = index_path("spec.endpoints", i);
    if (!doc.is_map(es[i], p)) continue;
    doc.check_keys(es[i], p, {"fqdn", "ip", "unix"}, {"zone"});
    const bool fqdn = es[i]["fqdn"].IsDefined(), ip = es[i]["ip"].IsDefined(),
               unix = es[i]["unix"].IsDefined();
    if (fqdn + ip + unix != 1) {
      doc.fail(es[i], p, "exactly one of fqdn, ip or unix");
      continue;
    }
    if (unix) {
      doc.fail(es[i]["unix"], join_path(p, "unix"), "unix socket endpoints are not supported yet");
      continue;
    }
    const char* field = fqdn ? "fqdn" : "ip";
    const std::string fp = join_path(p, field);
    const YAML::Node e = es[i][field];
    if (!doc.is_map(e, fp)) continue;
    doc.check_keys(e, fp, {fqdn ? "hostname" : "address", "port"});
    endpoint_config ep;
    ep.address = doc.string_at(e, fqdn ? "hostname" : "address", fp, true).value_or("");
    ep.port = static_cast<std::uint16_t>(doc.int_at(e, "port", fp, true, 1, 65535).value_or(0));
    boost::system::error_code ec;
    boost::asio::ip::make_address(ep.address, ec);
    if (ip && ec)
      doc.fail(e["address"], join_path(fp, "address"),
               fmt::format("'{}' is not an IP address", ep.address));
    else if (fqdn && !ec)
      doc.fail(e["hostname"], join_path(fp, "hostname"), "an IP address belongs in ip, not fqdn");
    else
      b.endpoints.push_back(std::move(ep));
  }
  return b;
}

std::optional<slice_doc> read_slice(document_reader& doc, const YAML::Node& d, meta m) {
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"});
  slice_doc s;
  auto it = m.labels.find("kubernetes.io/service-name");
  if (it == m.labels.end())
    doc.fail(d["metadata"], "metadata.labels",
             "an EndpointSlice needs the label kubernetes.io/service-name");
  else
    s.service = it->second;
  s.m = std::move(m);
  std::string type = doc.string_at(d, "addressType", "", true).value_or("IPv4");
  doc.one_of(d["addressType"], "addressType", type, {"IPv4", "IPv6"});
  if (YAML::Node es = d["endpoints"]; es.IsDefined() && doc.is_seq(es, "endpoints")) {
    for (std::size_t i = 0; i < es.size(); ++i) {
      std::string p = index_path("endpoints", i);
      if (!doc.is_map(es[i], p)) continue;
      doc.check_keys(es[i], p, {"addresses", "conditions"},
                     {"hostname", "nodeName", "zone", "targetRef", "hints", "deprecatedTopology"});
      bool ready = true;
      if (YAML::Node c = es[i]["conditions"];
          c.IsDefined() && doc.is_map(c, join_path(p, "conditions"))) {
        std::string cp = join_path(p, "conditions");
        doc.check_keys(c, cp, {"ready", "serving", "terminating"});
        // Kubernetes: a nil "ready" means ready; terminating endpoints take no new requests.
        ready = doc.bool_at(c, "ready", cp).value_or(true) &&
                !doc.bool_at(c, "terminating", cp).value_or(false);
        doc.bool_at(c, "serving", cp);
      }
      YAML::Node as = es[i]["addresses"];
      if (!as.IsDefined()) {
        doc.fail(es[i], join_path(p, "addresses"), "required field is missing");
        continue;
      }
      if (!doc.is_seq(as, join_path(p, "addresses"))) continue;
      for (std::size_t k = 0; k < as.size(); ++k) {
        std::string a = as[k].Scalar();
        bool v6 = a.find(':') != std::string::npos;
        if (v6 != (type == "IPv6"))
          doc.fail(as[k], index_path(join_path(p, "addresses"), k),
                   fmt::format("address '{}' does not match addressType {}", a, type));
        else if (ready)
          s.addresses.push_back(a);
      }
    }
  }
  if (YAML::Node ps = d["ports"]; ps.IsDefined() && doc.is_seq(ps, "ports")) {
    for (std::size_t i = 0; i < ps.size(); ++i) {
      std::string p = index_path("ports", i);
      if (!doc.is_map(ps[i], p)) continue;
      doc.check_keys(ps[i], p, {"name", "port", "protocol", "appProtocol"});
      service_port_doc sp;
      sp.name = doc.string_at(ps[i], "name", p, false).value_or("");
      sp.port =
          static_cast<std::uint16_t>(doc.int_at(ps[i], "port", p, true, 1, 65535).value_or(0));
      s.ports.push_back(std::move(sp));
    }
  }
  return s;
}

}  // namespace gateway::manifests
