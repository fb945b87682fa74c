// Reading HTTPRoute, GRPCRoute, TCPRoute and TLSRoute documents (matches, filters, backendRefs,
// timeouts) and ReferenceGrants. References are recorded as written; the loader resolves
// them once every document is read.
#include <fmt/format.h>
#include <algorithm>
#include <set>

#include "config/manifests.hpp"
#include "router/host_name.hpp"

namespace gateway::manifests {
namespace {

using yaml_config::document_reader;
using yaml_config::index_path;
using yaml_config::join_path;

// Header or query conditions (`key` of `mn`): type, name, value.
template <typename Match>
void read_value_matches(document_reader& doc, const YAML::Node& mn, const char* key,
                        const std::string& p, std::vector<Match>& out) {
  YAML::Node list = mn[key];
  std::string lp = join_path(p, key);
  if (!list.IsDefined() || !doc.is_seq(list, lp)) return;
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string ip = index_path(lp, i);
    if (!doc.is_map(list[i], ip)) continue;
    doc.check_keys(list[i], ip, {"type", "name", "value"});
    Match v;
    std::string type = doc.string_at(list[i], "type", ip, false).value_or("Exact");
    if (doc.one_of(list[i]["type"], join_path(ip, "type"), type, {"Exact", "RegularExpression"}))
      v.type = type == "Exact" ? value_match_type::exact : value_match_type::regex;
    v.name = doc.string_at(list[i], "name", ip, true).value_or("");
    v.value = doc.string_at(list[i], "value", ip, true).value_or("");
    out.push_back(std::move(v));
  }
}

void read_match(document_reader& doc, const YAML::Node& mn, const std::string& p, route_match& rm) {
  doc.check_keys(mn, p, {"path", "headers", "queryParams", "method"});
  if (YAML::Node pn = mn["path"]; pn.IsDefined() && doc.is_map(pn, join_path(p, "path"))) {
    std::string pp = join_path(p, "path");
    doc.check_keys(pn, pp, {"type", "value"});
    std::string type = doc.string_at(pn, "type", pp, false).value_or("PathPrefix");
    if (doc.one_of(pn["type"], join_path(pp, "type"), type,
                   {"Exact", "PathPrefix", "RegularExpression"}))
      rm.path.type = type == "Exact"        ? path_match_type::exact
                     : type == "PathPrefix" ? path_match_type::prefix
                                            : path_match_type::regex;
    rm.path.value = doc.string_at(pn, "value", pp, false).value_or("/");
    if (rm.path.type != path_match_type::regex &&
        (rm.path.value.empty() || rm.path.value[0] != '/'))
      doc.fail(pn["value"], join_path(pp, "value"), "must start with '/'");
  }
  if (auto method = doc.string_at(mn, "method", p, false)) {
    if (doc.one_of(
            mn["method"], join_path(p, "method"), *method,
            {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}))
      rm.method = *method;
  }
  read_value_matches(doc, mn, "headers", p, rm.headers);
  read_value_matches(doc, mn, "queryParams", p, rm.query_params);
}

// A GRPCRouteMatch: `method` (type, service, method) and `headers`.
void read_grpc_match(document_reader& doc, const YAML::Node& mn, const std::string& p,
                     route_match& rm) {
  doc.check_keys(mn, p, {"method", "headers"});
  grpc_method_match g;
  if (YAML::Node gn = mn["method"]; gn.IsDefined() && doc.is_map(gn, join_path(p, "method"))) {
    const std::string gp = join_path(p, "method");
    doc.check_keys(gn, gp, {"type", "service", "method"});
    const std::string type = doc.string_at(gn, "type", gp, false).value_or("Exact");
    if (doc.one_of(gn["type"], join_path(gp, "type"), type, {"Exact", "RegularExpression"}))
      g.type = type == "Exact" ? value_match_type::exact : value_match_type::regex;
    g.service = doc.string_at(gn, "service", gp, false).value_or("");
    g.method = doc.string_at(gn, "method", gp, false).value_or("");
    if (g.service.empty() && g.method.empty())
      doc.fail(gn, gp, "at least one of service and method must be given");
    if (g.type == value_match_type::exact)
      for (const char* part : {"service", "method"})
        if (doc.string_at(gn, part, gp, false).value_or("").find('/') != std::string::npos)
          doc.fail(gn[part], join_path(gp, part), "an Exact match must not contain '/'");
  }
  rm.grpc = std::move(g);
  read_value_matches(doc, mn, "headers", p, rm.headers);
}

// A reference to a backend object (backendRefs entries, a mirror's backendRef).
object_ref read_backend_ref(document_reader& doc, const YAML::Node& n, const std::string& p,
                            const meta& m, bool weighted) {
  object_ref b;
  if (weighted)
    doc.check_keys(n, p, {"group", "kind", "name", "namespace", "port", "weight", "filters"});
  else
    doc.check_keys(n, p, {"group", "kind", "name", "namespace", "port"});
  b.group = doc.string_at(n, "group", p, false).value_or("");
  b.kind = doc.string_at(n, "kind", p, false).value_or("Service");
  b.name = doc.string_at(n, "name", p, true).value_or("");
  b.ns = doc.string_at(n, "namespace", p, false).value_or(m.ns);
  const bool service = b.group.empty() && b.kind == "Service";
  b.port = static_cast<std::uint16_t>(doc.int_at(n, "port", p, service, 1, 65535).value_or(0));
  if (weighted)
    b.weight =
        static_cast<std::uint32_t>(doc.int_at(n, "weight", p, false, 0, 1000000).value_or(1));
  b.node = n;
  b.path = p;
  return b;
}

void read_header_modifier(document_reader& doc, const YAML::Node& n, const std::string& p,
                          header_modifier& out) {
  if (!doc.is_map(n, p)) return;
  doc.check_keys(n, p, {"set", "add", "remove"});
  std::set<std::string> names;  // the spec forbids naming a header twice across set and add
  auto read_fields = [&](const char* key, std::vector<header_value>& fields) {
    YAML::Node list = n[key];
    std::string lp = join_path(p, key);
    if (!list.IsDefined() || !doc.is_seq(list, lp)) return;
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string ip = index_path(lp, i);
      if (!doc.is_map(list[i], ip)) continue;
      doc.check_keys(list[i], ip, {"name", "value"});
      header_value h{doc.string_at(list[i], "name", ip, true).value_or(""),
                     doc.string_at(list[i], "value", ip, true).value_or("")};
      if (!names.insert(lowercase_host(h.name)).second)
        doc.fail(list[i]["name"], join_path(ip, "name"),
                 fmt::format("header '{}' named twice", h.name));
      fields.push_back(std::move(h));
    }
  };
  read_fields("set", out.set);
  read_fields("add", out.add);
  if (YAML::Node list = n["remove"]; list.IsDefined() && doc.is_seq(list, join_path(p, "remove")))
    for (std::size_t i = 0; i < list.size(); ++i)
      out.remove.push_back(list[i].Scalar());
}

path_rewrite read_path_modifier(document_reader& doc, const YAML::Node& n, const std::string& p) {
  path_rewrite out;
  if (!doc.is_map(n, p)) return out;
  doc.check_keys(n, p, {"type", "replaceFullPath", "replacePrefixMatch"});
  std::string type = doc.string_at(n, "type", p, true).value_or("");
  if (!doc.one_of(n["type"], join_path(p, "type"), type, {"ReplaceFullPath", "ReplacePrefixMatch"}))
    return out;
  const bool full = type == "ReplaceFullPath";
  const char* field = full ? "replaceFullPath" : "replacePrefixMatch";
  const char* other = full ? "replacePrefixMatch" : "replaceFullPath";
  if (n[other].IsDefined())
    doc.fail(n[other], join_path(p, other), std::string("not allowed with type ") + type);
  out.type = full ? path_rewrite_type::full_path : path_rewrite_type::prefix_match;
  out.value = doc.string_at(n, field, p, true).value_or("/");
  return out;
}

void read_filters(document_reader& doc, const YAML::Node& list, const std::string& lp,
                  const meta& m, rule_doc& rd) {
  if (!doc.is_seq(list, lp)) return;
  // GRPCRoute has the header modifiers, mirrors and extensions of HTTPRoute's filters.
  const bool grpc = m.kind == "GRPCRoute";
  static constexpr std::pair<std::string_view, std::string_view> fields[] = {
      {"RequestHeaderModifier", "requestHeaderModifier"},
      {"ResponseHeaderModifier", "responseHeaderModifier"},
      {"RequestRedirect", "requestRedirect"},
      {"URLRewrite", "urlRewrite"},
      {"RequestMirror", "requestMirror"},
      {"ExtensionRef", "extensionRef"},
      {"CORS", "cors"}};
  std::set<std::string> seen;
  route_rule& rule = rd.rule;
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string p = index_path(lp, i);
    const YAML::Node f = list[i];
    if (!doc.is_map(f, p)) continue;
    doc.check_keys(f, p,
                   {"type", "requestHeaderModifier", "responseHeaderModifier", "requestRedirect",
                    "urlRewrite", "requestMirror", "extensionRef", "cors"});
    std::string type = doc.string_at(f, "type", p, true).value_or("");
    if (grpc ? !doc.one_of(f["type"], join_path(p, "type"), type,
                           {"RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
                            "ExtensionRef"})
             : !doc.one_of(f["type"], join_path(p, "type"), type,
                           {"RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect",
                            "URLRewrite", "RequestMirror", "ExtensionRef", "CORS"}))
      continue;
    // Each type's settings sit in its own field, and only that one may be set.
    std::string field;
    for (const auto& [t, key] : fields) {
      if (t == type) {
        field = key;
      } else if (f[std::string(key)].IsDefined()) {
        doc.fail(f[std::string(key)], join_path(p, key),
                 fmt::format("not allowed with type {}", type));
      }
    }
    if (type != "RequestMirror" && type != "ExtensionRef" && !seen.insert(type).second)
      doc.fail(f["type"], join_path(p, "type"),
               fmt::format("{} may appear only once per rule", type));
    const YAML::Node n = f[field];
    const std::string np = join_path(p, field);
    if (!n.IsDefined()) {
      doc.fail(f, np, fmt::format("required for type {}", type));
      continue;
    }
    if (type == "RequestHeaderModifier") {
      read_header_modifier(doc, n, np, rule.request_headers);
    } else if (type == "ResponseHeaderModifier") {
      read_header_modifier(doc, n, np, rule.response_headers);
    } else if (type == "RequestRedirect") {
      if (!doc.is_map(n, np)) continue;
      doc.check_keys(n, np, {"scheme", "hostname", "path", "port", "statusCode"});
      request_redirect r;
      r.scheme = doc.string_at(n, "scheme", np, false).value_or("");
      if (!r.scheme.empty())
        doc.one_of(n["scheme"], join_path(np, "scheme"), r.scheme, {"http", "https"});
      r.hostname = lowercase_host(doc.string_at(n, "hostname", np, false).value_or(""));
      r.port = static_cast<std::uint16_t>(doc.int_at(n, "port", np, false, 1, 65535).value_or(0));
      r.status_code =
          static_cast<int>(doc.int_at(n, "statusCode", np, false, 300, 399).value_or(302));
      if (n["statusCode"].IsDefined())
        doc.one_of(n["statusCode"], join_path(np, "statusCode"), std::to_string(r.status_code),
                   {"301", "302", "303", "307", "308"});
      if (YAML::Node pn = n["path"]; pn.IsDefined())
        r.path = read_path_modifier(doc, pn, join_path(np, "path"));
      rule.redirect = std::move(r);
    } else if (type == "URLRewrite") {
      if (!doc.is_map(n, np)) continue;
      doc.check_keys(n, np, {"hostname", "path"});
      url_rewrite r;
      r.hostname = lowercase_host(doc.string_at(n, "hostname", np, false).value_or(""));
      if (YAML::Node pn = n["path"]; pn.IsDefined())
        r.path = read_path_modifier(doc, pn, join_path(np, "path"));
      rule.rewrite = std::move(r);
    } else if (type == "RequestMirror") {
      if (!doc.is_map(n, np)) continue;
      doc.check_keys(n, np, {"backendRef", "percent", "fraction"});
      mirror_doc md;
      YAML::Node br = n["backendRef"];
      if (!br.IsDefined()) {
        doc.fail(n, join_path(np, "backendRef"), "required field is missing");
        continue;
      }
      if (!doc.is_map(br, join_path(np, "backendRef"))) continue;
      md.backend = read_backend_ref(doc, br, join_path(np, "backendRef"), m, false);
      if (n["percent"].IsDefined() && n["fraction"].IsDefined())
        doc.fail(n["fraction"], join_path(np, "fraction"), "percent and fraction are exclusive");
      if (auto pct = doc.int_at(n, "percent", np, false, 0, 100)) {
        md.numerator = static_cast<std::uint32_t>(*pct);
        md.denominator = 100;
      }
      if (YAML::Node fr = n["fraction"];
          fr.IsDefined() && doc.is_map(fr, join_path(np, "fraction"))) {
        std::string fp = join_path(np, "fraction");
        doc.check_keys(fr, fp, {"numerator", "denominator"});
        md.numerator = static_cast<std::uint32_t>(
            doc.int_at(fr, "numerator", fp, true, 0, 1000000).value_or(0));
        md.denominator = static_cast<std::uint32_t>(
            doc.int_at(fr, "denominator", fp, false, 1, 1000000).value_or(100));
        if (md.numerator > md.denominator)
          doc.fail(fr, fp, "numerator must not exceed denominator");
      }
      rd.mirrors.push_back(std::move(md));
    } else if (type == "CORS") {
      if (!doc.is_map(n, np)) continue;
      doc.check_keys(n, np,
                     {"allowOrigins", "allowMethods", "allowHeaders", "exposeHeaders", "maxAge",
                      "allowCredentials"});
      cors_policy c;
      auto list = [&](const char* key, std::vector<std::string>& out) {
        YAML::Node l = n[key];
        if (!l.IsDefined() || !doc.is_seq(l, join_path(np, key))) return;
        for (std::size_t k = 0; k < l.size(); ++k)
          out.push_back(l[k].Scalar());
      };
      list("allowOrigins", c.allow_origins);
      list("allowMethods", c.allow_methods);
      list("allowHeaders", c.allow_headers);
      list("exposeHeaders", c.expose_headers);
      if (c.allow_origins.empty())
        doc.fail(n, join_path(np, "allowOrigins"), "at least one origin is needed");
      c.allow_credentials = doc.bool_at(n, "allowCredentials", np).value_or(false);
      c.max_age =
          std::chrono::seconds(doc.int_at(n, "maxAge", np, false, 0, 86400 * 7).value_or(5));
      rule.cors = std::move(c);
    } else {  // ExtensionRef: a Filter of this project in the route's namespace
      if (!doc.is_map(n, np)) continue;
      doc.check_keys(n, np, {"group", "kind", "name"});
      object_ref ref;
      ref.group = doc.string_at(n, "group", np, true).value_or("");
      ref.kind = doc.string_at(n, "kind", np, true).value_or("");
      ref.name = doc.string_at(n, "name", np, true).value_or("");
      ref.ns = m.ns;
      ref.node = n;
      ref.path = np;
      if (ref.group != "gateway.dev" || ref.kind != "Filter")
        doc.fail(n, np,
                 fmt::format(
                     "extensionRef must name a Filter of group gateway.dev (got {} of group '{}')",
                     ref.kind, ref.group));
      else
        rd.extensions.push_back(std::move(ref));
    }
  }
}

// `m` with `b`'s entries after its own: a field `b` sets or removes is
// replaced, so the backend's word is the last.
void merge_modifier(header_modifier& m, const header_modifier& b) {
  auto drop = [&](const std::string& name) {
    auto same = [&](const header_value& h) { return http::iequals(h.name, name); };
    std::erase_if(m.set, same);
    std::erase_if(m.add, same);
    std::erase_if(m.remove, [&](const std::string& r) { return http::iequals(r, name); });
  };
  for (const header_value& s : b.set) {
    drop(s.name);
    m.set.push_back(s);
  }
  for (const std::string& r : b.remove) {
    drop(r);
    m.remove.push_back(r);
  }
  for (const header_value& a : b.add)
    m.add.push_back(a);
}

// The variant of `rd` for its backend `k` with the filters `own` read from
// that backendRef: applied after the rule's, each type overriding or adding.
rule_doc backend_variant(const rule_doc& rd, std::size_t k, const rule_doc& own) {
  rule_doc v;
  v.rule = rd.rule;
  v.backends = {rd.backends[k]};
  v.mirrors = rd.mirrors;
  v.extensions = rd.extensions;
  merge_modifier(v.rule.request_headers, own.rule.request_headers);
  merge_modifier(v.rule.response_headers, own.rule.response_headers);
  if (own.rule.redirect) v.rule.redirect = own.rule.redirect;
  if (own.rule.rewrite) v.rule.rewrite = own.rule.rewrite;
  if (own.rule.cors) v.rule.cors = own.rule.cors;
  v.mirrors.insert(v.mirrors.end(), own.mirrors.begin(), own.mirrors.end());
  v.extensions.insert(v.extensions.end(), own.extensions.begin(), own.extensions.end());
  return v;
}

void read_rule(document_reader& doc, const YAML::Node& rn, const std::string& p, const meta& m,
               rule_doc& rd) {
  const bool grpc = m.kind == "GRPCRoute";
  if (grpc)
    doc.check_keys(rn, p, {"name", "matches", "filters", "backendRefs", "sessionPersistence"});
  else
    doc.check_keys(
        rn, p,
        {"name", "matches", "filters", "backendRefs", "timeouts", "retry", "sessionPersistence"});
  if (rn["sessionPersistence"].IsDefined())
    doc.fail(rn["sessionPersistence"], join_path(p, "sessionPersistence"),
             "sessionPersistence is not supported yet");
  if (YAML::Node rt = rn["retry"]; rt.IsDefined() && doc.is_map(rt, join_path(p, "retry"))) {
    const std::string rp = join_path(p, "retry");
    doc.check_keys(rt, rp, {"codes", "attempts", "backoff"});
    retry_policy r;
    if (YAML::Node cs = rt["codes"]; cs.IsDefined() && doc.is_seq(cs, join_path(rp, "codes")))
      for (std::size_t k = 0; k < cs.size(); ++k) {
        std::string cp = index_path(join_path(rp, "codes"), k);
        int code = 0;
        try {
          code = cs[k].as<int>();
        } catch (const YAML::Exception&) {
        }
        if (code < 400 || code > 599)
          doc.fail(cs[k], cp, "a retried status must be between 400 and 599");
        else
          r.codes.push_back(code);
      }
    r.attempts =
        static_cast<std::uint32_t>(doc.int_at(rt, "attempts", rp, false, 0, 10).value_or(1));
    r.backoff = doc.duration_at(rt, "backoff", rp).value_or(std::chrono::milliseconds(0));
    rd.rule.retry = std::move(r);
  }
  rd.rule.name = doc.string_at(rn, "name", p, false).value_or("");
  if (YAML::Node ms = rn["matches"]; ms.IsDefined() && doc.is_seq(ms, join_path(p, "matches"))) {
    for (std::size_t k = 0; k < ms.size(); ++k) {
      std::string mp = index_path(join_path(p, "matches"), k);
      if (!doc.is_map(ms[k], mp)) continue;
      (grpc ? read_grpc_match : read_match)(doc, ms[k], mp, rd.rule.matches.emplace_back());
    }
  }
  if (YAML::Node t = rn["timeouts"]; t.IsDefined() && doc.is_map(t, join_path(p, "timeouts"))) {
    std::string tp = join_path(p, "timeouts");
    doc.check_keys(t, tp, {"request", "backendRequest"});
    auto req = doc.duration_at(t, "request", tp);
    auto back = doc.duration_at(t, "backendRequest", tp);
    if (req && back && req->count() > 0 && *back > *req)
      doc.fail(t["backendRequest"], join_path(tp, "backendRequest"),
               "must not be longer than timeouts.request");
    if (req) rd.rule.request_timeout = *req;  // "0s" means none: the listener's default
    if (back) rd.rule.backend_request_timeout = *back;
  }
  if (YAML::Node fs = rn["filters"]; fs.IsDefined())
    read_filters(doc, fs, join_path(p, "filters"), m, rd);
  if (YAML::Node bs = rn["backendRefs"];
      bs.IsDefined() && doc.is_seq(bs, join_path(p, "backendRefs"))) {
    std::vector<rule_doc> own(bs.size());
    bool any_filters = false;
    for (std::size_t k = 0; k < bs.size(); ++k) {
      std::string bp = index_path(join_path(p, "backendRefs"), k);
      if (!doc.is_map(bs[k], bp)) continue;
      rd.backends.push_back(read_backend_ref(doc, bs[k], bp, m, true));
      if (YAML::Node fs = bs[k]["filters"]; fs.IsDefined()) {
        read_filters(doc, fs, join_path(bp, "filters"), m, own[rd.backends.size() - 1]);
        any_filters = true;
      }
    }
    if (any_filters)
      for (std::size_t k = 0; k < rd.backends.size(); ++k)
        rd.variants.push_back(backend_variant(rd, k, own[k]));
  }
}

// A TCPRoute or TLSRoute rule: backends only (a connection has nothing to
// match or filter).
void read_stream_rule(document_reader& doc, const YAML::Node& rn, const std::string& p,
                      const meta& m, rule_doc& rd) {
  doc.check_keys(rn, p, {"name", "backendRefs"});
  rd.rule.name = doc.string_at(rn, "name", p, false).value_or("");
  const YAML::Node bs = rn["backendRefs"];
  if (!bs.IsDefined()) {
    doc.fail(rn, join_path(p, "backendRefs"), "required field is missing");
    return;
  }
  if (!doc.is_seq(bs, join_path(p, "backendRefs"))) return;
  for (std::size_t k = 0; k < bs.size(); ++k) {
    std::string bp = index_path(join_path(p, "backendRefs"), k);
    if (!doc.is_map(bs[k], bp)) continue;
    if (bs[k]["filters"].IsDefined())
      doc.fail(bs[k]["filters"], join_path(bp, "filters"),
               fmt::format("a {} has no filters", m.kind));
    rd.backends.push_back(read_backend_ref(doc, bs[k], bp, m, true));
  }
}

}  // namespace

bool label_selector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& e : match_expressions) {
    auto it = labels.find(e.key);
    bool in = it != labels.end() &&
              std::find(e.values.begin(), e.values.end(), it->second) != e.values.end();
    if (e.op == "In" && !in) return false;
    if (e.op == "NotIn" && in) return false;
    if (e.op == "Exists" && it == labels.end()) return false;
    if (e.op == "DoesNotExist" && it != labels.end()) return false;
  }
  return true;
}

label_selector read_selector(document_reader& doc, const YAML::Node& node,
                             const std::string& path) {
  label_selector s;
  if (!doc.is_map(node, path)) return s;
  doc.check_keys(node, path, {"matchLabels", "matchExpressions"});
  if (YAML::Node ml = node["matchLabels"];
      ml.IsDefined() && doc.is_map(ml, join_path(path, "matchLabels")))
    for (const auto& kv : ml)
      s.match_labels[kv.first.Scalar()] = kv.second.Scalar();
  if (YAML::Node me = node["matchExpressions"];
      me.IsDefined() && doc.is_seq(me, join_path(path, "matchExpressions"))) {
    for (std::size_t i = 0; i < me.size(); ++i) {
      std::string ep = index_path(join_path(path, "matchExpressions"), i);
      if (!doc.is_map(me[i], ep)) continue;
      doc.check_keys(me[i], ep, {"key", "operator", "values"});
      label_selector::expression e;
      e.key = doc.string_at(me[i], "key", ep, true).value_or("");
      e.op = doc.string_at(me[i], "operator", ep, true).value_or("");
      doc.one_of(me[i]["operator"], join_path(ep, "operator"), e.op,
                 {"In", "NotIn", "Exists", "DoesNotExist"});
      if (YAML::Node vs = me[i]["values"];
          vs.IsDefined() && doc.is_seq(vs, join_path(ep, "values")))
        for (std::size_t k = 0; k < vs.size(); ++k)
          e.values.push_back(vs[k].Scalar());
      const bool needs_values = e.op == "In" || e.op == "NotIn";
      if (needs_values == e.values.empty())
        doc.fail(me[i], join_path(ep, "values"),
                 needs_values ? std::string("In and NotIn need values")
                              : fmt::format("{} takes no values", e.op));
      s.match_expressions.push_back(std::move(e));
    }
  }
  return s;
}

route_doc read_route(document_reader& doc, const YAML::Node& d, meta m) {
  route_doc r;
  r.m = std::move(m);
  r.label = doc.label();
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  const YAML::Node spec = d["spec"];
  if (!doc.is_map(spec, "spec")) return r;
  const bool stream = r.m.kind == "TCPRoute" || r.m.kind == "TLSRoute";
  if (r.m.kind == "TCPRoute")  // a TCP connection names no host
    doc.check_keys(spec, "spec", {"parentRefs", "rules"});
  else
    doc.check_keys(spec, "spec", {"parentRefs", "hostnames", "rules"});
  if (YAML::Node ps = spec["parentRefs"]; ps.IsDefined() && doc.is_seq(ps, "spec.parentRefs")) {
    for (std::size_t i = 0; i < ps.size(); ++i) {
      std::string p = index_path("spec.parentRefs", i);
      if (!doc.is_map(ps[i], p)) continue;
      doc.check_keys(ps[i], p, {"group", "kind", "namespace", "name", "sectionName", "port"});
      std::string group =
          doc.string_at(ps[i], "group", p, false).value_or(std::string(gateway_api_group));
      std::string kind = doc.string_at(ps[i], "kind", p, false).value_or("Gateway");
      doc.one_of(ps[i]["group"], join_path(p, "group"), group, {gateway_api_group});
      doc.one_of(ps[i]["kind"], join_path(p, "kind"), kind, {"Gateway"});
      parent_ref_doc pr;
      pr.ns = doc.string_at(ps[i], "namespace", p, false).value_or(r.m.ns);
      pr.name = doc.string_at(ps[i], "name", p, true).value_or("");
      pr.section = doc.string_at(ps[i], "sectionName", p, false).value_or("");
      pr.port =
          static_cast<std::uint16_t>(doc.int_at(ps[i], "port", p, false, 1, 65535).value_or(0));
      pr.node = ps[i];
      pr.path = p;
      r.parents.push_back(std::move(pr));
    }
  }
  if (YAML::Node hs = spec["hostnames"]; hs.IsDefined() && doc.is_seq(hs, "spec.hostnames")) {
    for (std::size_t i = 0; i < hs.size(); ++i) {
      std::string h = hs[i].Scalar();
      if (!valid_route_hostname(h))
        doc.fail(hs[i], index_path("spec.hostnames", i), fmt::format("invalid hostname '{}'", h));
      else
        r.hostnames.push_back(lowercase_host(h));
    }
  }
  YAML::Node rules = spec["rules"];
  if (stream) {
    if (!rules.IsDefined() || (rules.IsSequence() && rules.size() == 0)) {
      doc.fail(spec, "spec.rules", fmt::format("a {} needs one rule with backendRefs", r.m.kind));
    } else if (doc.is_seq(rules, "spec.rules")) {
      // Nothing tells two rules of one connection apart: the spec leaves
      // more than one to the implementation, and here it is an error.
      if (rules.size() > 1)
        doc.fail(rules[1], "spec.rules[1]",
                 fmt::format("a {}{}", r.m.kind,
                             " has one rule here (nothing in a connection chooses between "
                             "rules); split the backends into weighted backendRefs of one rule"));
      if (doc.is_map(rules[0], "spec.rules[0]"))
        read_stream_rule(doc, rules[0], "spec.rules[0]", r.m, r.rules.emplace_back());
    }
  } else if (!rules.IsDefined()) {  // Gateway API default: one rule matching all, no backends
    r.rules.emplace_back();
  } else if (doc.is_seq(rules, "spec.rules")) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
      std::string p = index_path("spec.rules", i);
      if (!doc.is_map(rules[i], p)) continue;
      read_rule(doc, rules[i], p, r.m, r.rules.emplace_back());
    }
  }
  return r;
}

grant_doc read_reference_grant(document_reader& doc, const YAML::Node& d, meta m) {
  grant_doc g;
  g.m = std::move(m);
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  const YAML::Node spec = d["spec"];
  if (!doc.is_map(spec, "spec")) return g;
  doc.check_keys(spec, "spec", {"from", "to"});
  for (const char* side : {"from", "to"}) {
    YAML::Node list = spec[side];
    std::string lp = join_path("spec", side);
    if (!list.IsDefined()) {
      doc.fail(spec, lp, "required field is missing");
      continue;
    }
    if (!doc.is_seq(list, lp)) continue;
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string p = index_path(lp, i);
      if (!doc.is_map(list[i], p)) continue;
      std::string group = doc.string_at(list[i], "group", p, true).value_or("");
      std::string kind = doc.string_at(list[i], "kind", p, true).value_or("");
      if (std::string_view(side) == "from") {
        doc.check_keys(list[i], p, {"group", "kind", "namespace"});
        g.from.push_back({group, kind, doc.string_at(list[i], "namespace", p, true).value_or("")});
      } else {
        doc.check_keys(list[i], p, {"group", "kind", "name"});
        g.to.push_back({group, kind, doc.string_at(list[i], "name", p, false).value_or("")});
      }
    }
  }
  return g;
}

}  // namespace gateway::manifests
