// Ingress to routes: paths, default backends, and the ingress-nginx
// annotations that migrations rely on (the set Higress honours too). An
// annotation this file does not know is reported, never dropped in silence.
#include <gateway/error.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <map>
#include <set>

#include "config/manifests.hpp"
#include "server/target_url.hpp"

namespace gateway::manifests {
namespace {

using yaml_config::document_reader;
using yaml_config::join_path;

constexpr std::string_view nginx_prefix = "nginx.ingress.kubernetes.io/";

// The annotations of one Ingress, parsed and checked.
struct nginx_options {
  bool use_regex = false;
  std::optional<std::string> rewrite_target;
  bool canary = false;
  std::uint32_t canary_weight = 0, canary_total = 100;
  std::string canary_header, canary_header_value, canary_cookie;
  std::optional<bool> ssl_redirect;
  bool force_ssl_redirect = false;
  std::optional<request_redirect> fixed_redirect;  // permanent-/temporal-redirect
  std::string app_root;
  std::string upstream_vhost;
  std::optional<std::uint64_t> body_size;
  std::chrono::milliseconds connect_timeout{0}, read_timeout{0};
};

class annotation_reader {
 public:
  annotation_reader(document_reader& doc, const meta& m) : doc_(doc), m_(m) {}

  nginx_options read() {
    nginx_options o;
    std::optional<int> permanent_code;  // permanent-redirect-code, applied after the loop
    bool permanent = false;
    for (const auto& [key, value] : m_.annotations) {
      if (!key.starts_with(nginx_prefix)) {
        if (key != "kubernetes.io/ingress.class" &&
            key != "kubectl.kubernetes.io/last-applied-configuration")
          warn(key, "annotation is not supported and has no effect");
        continue;
      }
      std::string name = key.substr(nginx_prefix.size());
      if (name == "use-regex")
        o.use_regex = boolean(key, value);
      else if (name == "rewrite-target")
        o.rewrite_target = value;
      else if (name == "canary")
        o.canary = boolean(key, value);
      else if (name == "canary-weight")
        o.canary_weight = number(key, value);
      else if (name == "canary-weight-total")
        o.canary_total = number(key, value);
      else if (name == "canary-by-header")
        o.canary_header = value;
      else if (name == "canary-by-header-value")
        o.canary_header_value = value;
      else if (name == "canary-by-cookie")
        o.canary_cookie = value;
      else if (name == "ssl-redirect")
        o.ssl_redirect = boolean(key, value);
      else if (name == "force-ssl-redirect")
        o.force_ssl_redirect = boolean(key, value);
      else if (name == "permanent-redirect")
        permanent = (o.fixed_redirect = url_redirect(key, value, 301)).has_value();
      else if (name == "permanent-redirect-code")
        permanent_code = redirect_code(key, value);
      else if (name == "temporal-redirect")
        o.fixed_redirect = url_redirect(key, value, 302);
      else if (name == "app-root")
        o.app_root = value;
      else if (name == "upstream-vhost")
        o.upstream_vhost = value;
      else if (name == "proxy-body-size")
        o.body_size = size(key, value);
      else if (name == "proxy-connect-timeout")
        o.connect_timeout = seconds(key, value);
      else if (name == "proxy-read-timeout")
        o.read_timeout = seconds(key, value);
      else
        warn(key, "ingress-nginx annotation is not supported and has no effect");
    }
    if (permanent_code) {
      const std::string key = std::string(nginx_prefix) + "permanent-redirect-code";
      if (permanent)
        o.fixed_redirect->status_code = *permanent_code;
      else
        warn(key, "has no effect without nginx.ingress.kubernetes.io/permanent-redirect");
    }
    if (o.canary_total == 0) fail("nginx.ingress.kubernetes.io/canary-weight-total", "must be > 0");
    if (o.canary_weight > o.canary_total)
      fail("nginx.ingress.kubernetes.io/canary-weight", "larger than canary-weight-total");
    if (!o.app_root.empty() && o.app_root.front() != '/')
      fail("nginx.ingress.kubernetes.io/app-root", "must start with '/'");
    return o;
  }

 private:
  std::string path(const std::string& key) const { return join_path("metadata.annotations", key); }
  YAML::Node node(const std::string& key) const {
    return m_.annotations_node.IsDefined() ? m_.annotations_node[key] : YAML::Node();
  }
  void fail(const std::string& key, const std::string& why) {
    doc_.fail(node(key), path(key), why);
  }
  void warn(const std::string& key, const std::string& why) {
    doc_.warn(node(key), path(key), why);
  }

  bool boolean(const std::string& key, const std::string& v) {
    if (v == "true") return true;
    if (v != "false") fail(key, fmt::format("'{}' is not true or false", v));
    return false;
  }
  std::uint32_t number(const std::string& key, const std::string& v) {
    std::uint32_t n = 0;
    bool ok = !v.empty() && v.size() <= 9;
    for (char c : v)
      ok = ok && c >= '0' && c <= '9';
    if (!ok) {
      fail(key, fmt::format("'{}' is not a whole number", v));
      return 0;
    }
    for (char c : v)
      n = n * 10 + static_cast<std::uint32_t>(c - '0');
    return n;
  }
  // "30" or "30s", as ingress-nginx takes its timeouts.
  std::chrono::milliseconds seconds(const std::string& key, std::string v) {
    if (!v.empty() && v.back() == 's') v.pop_back();
    return std::chrono::seconds(number(key, v));
  }
  // "8m", "512k", "1g", "100" (bytes); "0" is unlimited.
  std::uint64_t size(const std::string& key, std::string v) {
    std::uint64_t unit = 1;
    if (!v.empty()) {
      char u = static_cast<char>(v.back() | 0x20);
      unit = u == 'k' ? 1024 : u == 'm' ? 1024 * 1024 : u == 'g' ? 1024ull * 1024 * 1024 : 1;
      if (unit != 1) v.pop_back();
    }
    return std::uint64_t{number(key, v)} * unit;
  }
  // A redirect status, as ingress-nginx takes permanent-redirect-code; one that
  // is no redirect is an error here (ingress-nginx falls back to 301 silently).
  std::optional<int> redirect_code(const std::string& key, const std::string& v) {
    const auto n = static_cast<int>(number(key, v));
    if (n == 301 || n == 302 || n == 303 || n == 307 || n == 308) return n;
    fail(key, fmt::format("'{}' is not a redirect status (301, 302, 303, 307 or 308)", v));
    return std::nullopt;
  }
  std::optional<request_redirect> url_redirect(const std::string& key, const std::string& url,
                                               int status) {
    // scheme://host[:port]/path -> a redirect to exactly there.
    parsed_url u;
    try {
      u = parse_url(url, "'" + url + "'");
    } catch (const gateway::error& e) {
      fail(key, e.what());
      return std::nullopt;
    }
    if (!u.absolute) {
      fail(key, fmt::format("'{}' is not an absolute http(s) URL", url));
      return std::nullopt;
    }
    request_redirect r;
    r.status_code = status;
    r.scheme = u.https ? "https" : "http";
    r.hostname = u.authority.front() == '[' ? "[" + u.host + "]" : u.host;
    if (u.port_given) r.port = u.port;
    r.path = {path_rewrite_type::full_path, u.target};
    return r;
  }

  document_reader& doc_;
  const meta& m_;
};

// ingress-nginx writes captures as $1; RE2 rewrites use \1.
std::string re2_rewrite(const std::string& target) {
  std::string out;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '$' && i + 1 < target.size() && target[i + 1] >= '0' && target[i + 1] <= '9') {
      out.push_back('\\');  // "$2" -> "\2"
      continue;
    }
    if (target[i] == '\\') out.push_back('\\');  // a literal backslash
    out.push_back(target[i]);
  }
  return out;
}

struct rule_place {
  std::size_t listener, route, rule;
};

}  // namespace

void add_ingress_listeners(const std::vector<const ingress_doc*>& served,
                           const cluster_resolver& clusters,
                           const certificate_resolver& certificates, gateway_config& out,
                           std::vector<config_issue>& issues) {
  std::map<std::string, std::size_t> listener_of_class;
  // Per class: its TLS certificates, and per route of its HTTP listener
  // whether plain HTTP requests for it are sent to HTTPS.
  std::map<std::string, std::vector<tls_certificate>> certificates_of_class;
  std::map<std::size_t, std::vector<bool>> redirects_of_listener;
  std::map<std::string, rule_place> main_rules;  // "class\thost\ttype\tpath" -> rule
  // Canaries last: they attach to rules of the Ingresses they shadow.
  std::vector<const ingress_doc*> order = served;
  std::stable_partition(order.begin(), order.end(), [](const ingress_doc* in) {
    auto it = in->m.annotations.find("nginx.ingress.kubernetes.io/canary");
    return it == in->m.annotations.end() || it->second != "true";
  });
  for (const ingress_doc* in : order) {
    document_reader at(in->label, issues, out.warnings);
    nginx_options o = annotation_reader(at, in->m).read();
    const std::string cls = in->class_name.empty() ? "none" : in->class_name;
    auto [lit, added] = listener_of_class.emplace(cls, out.listeners.size());
    if (added) {
      listener_config lc;
      lc.name = "ingress/" + cls + "/http";
      lc.bind_port = 80;
      lc.port = 80;
      out.listeners.push_back(std::move(lc));
    }
    const std::size_t li = lit->second;
    auto backend_of = [&](const object_ref& b) -> backend_ref {
      std::string why;
      std::string c = clusters(b, in->m, o.connect_timeout, why);
      if (c.empty()) at.warn(b.node, b.path, why + ": requests for this backend get 500");
      return {c, 100, c.empty() ? why : ""};
    };
    const bool regex_paths = o.use_regex || o.rewrite_target.has_value();
    auto make_match = [&](const ingress_path& p) {
      route_match m;
      if (regex_paths) {
        // ingress-nginx matches these as case-insensitive prefixes (location ~*).
        m.path = {path_match_type::regex, "(?i)" + p.path + ".*"};
      } else {
        m.path = {p.type == "Exact" ? path_match_type::exact : path_match_type::prefix, p.path};
        if (p.path.empty() || p.path.front() != '/')
          at.fail(p.backend.node, p.backend.path,
                  fmt::format("path '{}' must start with '/'", p.path));
      }
      return m;
    };
    auto apply_options = [&](route_rule& rule) {
      if (o.fixed_redirect) {
        rule.redirect = o.fixed_redirect;
      }
      if (rule.redirect) {
        rule.backends.clear();
        return;
      }
      if (o.rewrite_target || !o.upstream_vhost.empty()) {
        url_rewrite rw;
        rw.hostname = o.upstream_vhost;
        // The default backend has no path regex to take groups from: no rewrite there.
        if (o.rewrite_target && !rule.matches.empty())
          rw.path = {path_rewrite_type::regex, re2_rewrite(*o.rewrite_target)};
        rule.rewrite = std::move(rw);
      }
      if (o.body_size) rule.max_request_body = *o.body_size;
      if (o.read_timeout.count() > 0) rule.request_timeout = o.read_timeout;
    };

    if (o.canary) {
      for (const auto& r : in->rules)
        for (const auto& p : r.paths) {
          auto it = main_rules.find(cls + "\t" + r.host + "\t" + p.type + "\t" + p.path);
          if (it == main_rules.end()) {
            at.warn(p.backend.node, p.backend.path,
                    "canary has no main Ingress with host '" + r.host + "' and path '" + p.path +
                        "': ignored");
            continue;
          }
          route& target = out.listeners[it->second.listener].routes[it->second.route];
          const route_rule base = target.rules[it->second.rule];
          backend_ref canary = backend_of(p.backend);
          auto conditional = [&](header_match h, const backend_ref& to) {
            route_rule rule = base;
            for (auto& m : rule.matches)
              m.headers.push_back(h);
            rule.backends = {to};
            target.rules.push_back(std::move(rule));
          };
          const backend_ref main = base.backends.empty() ? backend_ref{} : base.backends.front();
          if (!o.canary_header.empty()) {
            if (!o.canary_header_value.empty()) {
              conditional({value_match_type::exact, o.canary_header, o.canary_header_value},
                          canary);
            } else {
              conditional({value_match_type::exact, o.canary_header, "always"}, canary);
              conditional({value_match_type::exact, o.canary_header, "never"}, main);
            }
          }
          if (!o.canary_cookie.empty()) {
            auto cookie = [&](const char* v) {
              return header_match{value_match_type::regex, "cookie",
                                  "(.*;\\s*)?" + o.canary_cookie + "=" + v + "(\\s*;.*)?"};
            };
            conditional(cookie("always"), canary);
            conditional(cookie("never"), main);
          }
          if (o.canary_weight > 0 && !base.backends.empty()) {
            route_rule& weighted = target.rules[it->second.rule];
            weighted.backends.front().weight = o.canary_total - o.canary_weight;
            canary.weight = o.canary_weight;
            weighted.backends.push_back(canary);
          }
        }
      continue;
    }

    for (const auto& e : in->tls) {
      document_reader tat(in->label, issues, out.warnings);
      if (auto c = certificates(in->m.ns, e.secret, e.node, e.path, tat)) {
        auto& list = certificates_of_class[cls];
        const bool known = std::any_of(list.begin(), list.end(), [&](const tls_certificate& k) {
          return k.source == c->source;
        });
        if (!known) list.push_back(std::move(*c));
      }
    }
    auto https_only = [&](const std::string& host) {
      const bool tls =
          std::find(in->tls_hosts.begin(), in->tls_hosts.end(), host) != in->tls_hosts.end();
      return !o.fixed_redirect && (o.force_ssl_redirect || (tls && o.ssl_redirect.value_or(true)));
    };
    auto& redirects = redirects_of_listener[li];
    for (const auto& r : in->rules) {
      redirects.resize(out.listeners[li].routes.size());
      redirects.push_back(https_only(r.host));
      route rt;
      rt.namespace_name = in->m.ns;
      rt.name = in->m.name;
      if (!r.host.empty()) rt.hostnames = {r.host};
      rt.wildcard_one_label = true;  // the Ingress spec: "*.foo.com" is one label
      if (!o.app_root.empty()) {
        route_rule root;
        root.matches.push_back({{path_match_type::exact, "/"}, std::nullopt, {}, {}});
        root.redirect =
            request_redirect{"", "", 0, {path_rewrite_type::full_path, o.app_root}, 302};
        rt.rules.push_back(std::move(root));
      }
      for (const auto& p : r.paths) {
        route_rule rule;
        rule.matches.push_back(make_match(p));
        rule.backends.push_back(backend_of(p.backend));
        apply_options(rule);
        main_rules.emplace(cls + "\t" + r.host + "\t" + p.type + "\t" + p.path,
                           rule_place{li, out.listeners[li].routes.size(), rt.rules.size()});
        rt.rules.push_back(std::move(rule));
      }
      out.listeners[li].routes.push_back(std::move(rt));
    }
    if (in->default_backend) {
      redirects.resize(out.listeners[li].routes.size());
      redirects.push_back(https_only(""));
      route rt;
      rt.namespace_name = in->m.ns;
      rt.name = in->m.name;
      route_rule rule;
      rule.backends.push_back(backend_of(*in->default_backend));
      apply_options(rule);
      rt.rules.push_back(std::move(rule));
      out.listeners[li].routes.push_back(std::move(rt));
    }
  }
  for (auto& [cls, li] : listener_of_class) {
    if (auto certs = certificates_of_class.find(cls); certs != certificates_of_class.end()) {
      listener_config https = out.listeners[li];
      https.name = "ingress/" + cls + "/https";
      https.bind_port = 443;
      https.port = 443;
      https.tls.emplace();
      https.tls->certificates = std::move(certs->second);
      out.listeners.push_back(std::move(https));
    }
    // Plain HTTP for the hosts with TLS (or force-ssl-redirect, where TLS
    // ends in front of the gateway): a redirect to the same URL over HTTPS.
    std::vector<bool>& redirects = redirects_of_listener[li];
    redirects.resize(out.listeners[li].routes.size());
    for (std::size_t r = 0; r < redirects.size(); ++r) {
      if (!redirects[r]) continue;
      for (route_rule& rule : out.listeners[li].routes[r].rules) {
        rule.redirect = request_redirect{"https", "", 0, {}, 308};
        rule.backends.clear();
        rule.mirrors.clear();
        rule.rewrite.reset();
      }
    }
  }
}

}  // namespace gateway::manifests
