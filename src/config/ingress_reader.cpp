// Reading networking.k8s.io/v1 Ingress documents. What the annotations mean
// is decided when routes are built (ingress_routes.cpp); here they are only
// recorded with the rest of the document.
#include <fmt/format.h>

#include "config/manifests.hpp"
#include "router/host_name.hpp"

namespace gateway::manifests {
namespace {

using yaml_config::document_reader;
using yaml_config::index_path;
using yaml_config::join_path;

object_ref read_ingress_backend(document_reader& doc, const YAML::Node& n, const std::string& p,
                                const meta& m) {
  object_ref b;
  b.ns = m.ns;
  b.node = n;
  b.path = p;
  if (!doc.is_map(n, p)) return b;
  doc.check_keys(n, p, {"service", "resource"});
  if (n["resource"].IsDefined()) {
    doc.fail(n["resource"], join_path(p, "resource"),
             "resource backends are not supported (only service)");
    return b;
  }
  const YAML::Node svc = n["service"];
  const std::string sp = join_path(p, "service");
  if (!svc.IsDefined()) {
    doc.fail(n, sp, "required field is missing");
    return b;
  }
  if (!doc.is_map(svc, sp)) return b;
  doc.check_keys(svc, sp, {"name", "port"});
  b.kind = "Service";
  b.name = doc.string_at(svc, "name", sp, true).value_or("");
  const YAML::Node port = svc["port"];
  const std::string pp = join_path(sp, "port");
  if (!port.IsDefined()) {
    doc.fail(svc, pp, "required field is missing");
  } else if (doc.is_map(port, pp)) {
    doc.check_keys(port, pp, {"number", "name"});
    if (port["number"].IsDefined() == port["name"].IsDefined())
      doc.fail(port, pp, "exactly one of number and name");
    b.port =
        static_cast<std::uint16_t>(doc.int_at(port, "number", pp, false, 1, 65535).value_or(0));
    b.port_name = doc.string_at(port, "name", pp, false).value_or("");
  }
  return b;
}

}  // namespace

ingress_doc read_ingress(document_reader& doc, const YAML::Node& d, meta m) {
  ingress_doc in;
  in.m = std::move(m);
  in.label = doc.label();
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  const YAML::Node spec = d["spec"];
  if (!doc.is_map(spec, "spec")) return in;
  doc.check_keys(spec, "spec", {"ingressClassName", "defaultBackend", "rules", "tls"});
  if (auto it = in.m.annotations.find("kubernetes.io/ingress.class"); it != in.m.annotations.end())
    in.class_name = it->second;
  if (auto c = doc.string_at(spec, "ingressClassName", "spec", false)) in.class_name = *c;
  if (YAML::Node db = spec["defaultBackend"]; db.IsDefined())
    in.default_backend = read_ingress_backend(doc, db, "spec.defaultBackend", in.m);
  if (YAML::Node tls = spec["tls"]; tls.IsDefined() && doc.is_seq(tls, "spec.tls")) {
    for (std::size_t i = 0; i < tls.size(); ++i) {
      std::string p = index_path("spec.tls", i);
      if (!doc.is_map(tls[i], p)) continue;
      doc.check_keys(tls[i], p, {"hosts", "secretName"});
      ingress_doc::tls_entry e;
      e.node = tls[i];
      e.path = p;
      if (YAML::Node hs = tls[i]["hosts"]; hs.IsDefined() && doc.is_seq(hs, join_path(p, "hosts")))
        for (std::size_t k = 0; k < hs.size(); ++k) {
          e.hosts.push_back(lowercase_host(hs[k].Scalar()));
          in.tls_hosts.push_back(e.hosts.back());
        }
      // ingress-nginx would serve its own self-signed certificate; there is none here.
      e.secret = doc.string_at(tls[i], "secretName", p, true).value_or("");
      in.tls.push_back(std::move(e));
    }
  }
  if (YAML::Node rules = spec["rules"]; rules.IsDefined() && doc.is_seq(rules, "spec.rules")) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      std::string p = index_path("spec.rules", i);
      if (!doc.is_map(rules[i], p)) continue;
      doc.check_keys(rules[i], p, {"host", "http"});
      ingress_rule r;
      r.host = lowercase_host(doc.string_at(rules[i], "host", p, false).value_or(""));
      if (!r.host.empty() && !valid_route_hostname(r.host))
        doc.fail(rules[i]["host"], join_path(p, "host"), fmt::format("invalid host '{}'", r.host));
      const YAML::Node http = rules[i]["http"];
      const std::string hp = join_path(p, "http");
      if (http.IsDefined() && doc.is_map(http, hp)) {
        doc.check_keys(http, hp, {"paths"});
        const YAML::Node paths = http["paths"];
        const std::string lp = join_path(hp, "paths");
        if (!paths.IsDefined()) doc.fail(http, lp, "required field is missing");
        if (paths.IsDefined() && doc.is_seq(paths, lp)) {
          for (std::size_t k = 0; k < paths.size(); ++k) {
            std::string pp = index_path(lp, k);
            if (!doc.is_map(paths[k], pp)) continue;
            doc.check_keys(paths[k], pp, {"path", "pathType", "backend"});
            ingress_path ip;
            ip.path = doc.string_at(paths[k], "path", pp, false).value_or("/");
            ip.type = doc.string_at(paths[k], "pathType", pp, true).value_or("Prefix");
            doc.one_of(paths[k]["pathType"], join_path(pp, "pathType"), ip.type,
                       {"Exact", "Prefix", "ImplementationSpecific"});
            if (YAML::Node b = paths[k]["backend"]; b.IsDefined())
              ip.backend = read_ingress_backend(doc, b, join_path(pp, "backend"), in.m);
            else
              doc.fail(paths[k], join_path(pp, "backend"), "required field is missing");
            r.paths.push_back(std::move(ip));
          }
        }
      }
      in.rules.push_back(std::move(r));
    }
  }
  if (in.rules.empty() && !in.default_backend)
    doc.warn(spec, "spec", "an Ingress with neither rules nor defaultBackend serves nothing");
  return in;
}

}  // namespace gateway::manifests
