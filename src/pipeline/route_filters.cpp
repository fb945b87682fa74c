#include "pipeline/route_filters.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>

#include "http1/head_text.hpp"
#include "router/host_name.hpp"

namespace gateway {

namespace {

// Joins the pieces of a message. (Chains of std::string operator+ trip a GCC 12
// -O3 -Warray-bounds false positive; appending does not.)
std::string text(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts)
    out.append(p);
  return out;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_field_value(std::string_view s) noexcept {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool precise_hostname(std::string_view h) noexcept {
  return !h.starts_with('*') && valid_route_hostname(h);
}

// Fields the proxy owns: a modifier may not set or remove them.
bool is_framing_field(std::string_view name) noexcept {
  for (std::string_view f : {"content-length", "transfer-encoding", "connection", "upgrade", "te",
                             "trailer", "keep-alive", "proxy-connection"})
    if (http::iequals(name, f)) return true;
  return false;
}

void check_modifier(const header_modifier& m, std::string_view which,
                    std::vector<std::string>& out) {
  auto check_name = [&](std::string_view name) {
    if (!is_token(name))
      out.push_back(text({which, ": '", name, "' is not a header name"}));
    else if (is_framing_field(name))
      out.push_back(
          text({which, ": '", name, "' describes the message framing and cannot be modified"}));
  };
  for (const auto& h : m.set) {
    check_name(h.name);
    if (!is_field_value(h.value))
      out.push_back(text({which, ": value of '", h.name, "' has CR, LF or NUL"}));
  }
  for (const auto& h : m.add) {
    check_name(h.name);
    if (!is_field_value(h.value))
      out.push_back(text({which, ": value of '", h.name, "' has CR, LF or NUL"}));
  }
  for (const auto& name : m.remove)
    check_name(name);
}

void check_path(const path_rewrite& p, const route_rule& rule, std::string_view which,
                std::vector<std::string>& out) {
  if (p.type == path_rewrite_type::none) return;
  if (!is_field_value(p.value) || p.value.find_first_of(" ?#") != std::string::npos)
    out.push_back(text({which, ": path '", p.value, "' has a space, '?', '#' or CR/LF"}));
  if (p.type != path_rewrite_type::prefix_match && (p.value.empty() || p.value.front() != '/'))
    out.push_back(text({which, ": the new path must start with '/'"}));
  if (p.type == path_rewrite_type::regex) {
    bool one_regex =
        rule.matches.size() == 1 && rule.matches[0].path.type == path_match_type::regex;
    if (!one_regex)
      out.push_back(
          text({which, ": a regex rewrite needs exactly one match, a RegularExpression path"}));
  }
  if (p.type == path_rewrite_type::prefix_match) {
    if (!p.value.empty() && p.value.front() != '/')
      out.push_back(text({which, ": ReplacePrefixMatch must start with '/'"}));
    bool all_prefix = true;  // no matches means PathPrefix "/"
    for (const auto& m : rule.matches)
      all_prefix = all_prefix && m.path.type == path_match_type::prefix;
    if (!all_prefix)
      out.push_back(
          text({which, ": ReplacePrefixMatch needs every match of the rule to be a PathPrefix"}));
  }
}

}  // namespace

std::vector<std::string> cors_problems(const cors_policy& cors) {
  std::vector<std::string> out;
  for (const auto& o : cors.allow_origins)
    if (o != "*" && o.find("://") == std::string::npos)
      out.push_back(text({"origin '", o, "' is not '*' or scheme://host[:port]"}));
  for (const auto& m : cors.allow_methods)
    if (m != "*" && !is_token(m)) out.push_back(text({"'", m, "' is not a method"}));
  for (const auto* names : {&cors.allow_headers, &cors.expose_headers})
    for (const auto& h : *names)
      if (h != "*" && !is_token(h)) out.push_back(text({"'", h, "' is not a header name"}));
  return out;
}

std::vector<std::string> filter_problems(const route_rule& rule) {
  std::vector<std::string> out;
  check_modifier(rule.request_headers, "RequestHeaderModifier", out);
  check_modifier(rule.response_headers, "ResponseHeaderModifier", out);
  if (rule.redirect && rule.rewrite)
    out.push_back(text({"RequestRedirect and URLRewrite cannot be used together"}));
  if (rule.redirect) {
    const request_redirect& r = *rule.redirect;
    if (!r.scheme.empty() && r.scheme != "http" && r.scheme != "https")
      out.push_back(text({"RequestRedirect: scheme '", r.scheme, "' is not http or https"}));
    if (!r.hostname.empty() && !precise_hostname(r.hostname))
      out.push_back(text({"RequestRedirect: invalid hostname '", r.hostname, "'"}));
    int sc = r.status_code;
    if (sc != 301 && sc != 302 && sc != 303 && sc != 307 && sc != 308)
      out.push_back(text({"RequestRedirect: statusCode ", std::to_string(sc),
                          " is not 301, 302, 303, 307 or 308"}));
    check_path(r.path, rule, "RequestRedirect", out);
  }
  if (rule.rewrite) {
    if (!rule.rewrite->hostname.empty() && !precise_hostname(rule.rewrite->hostname))
      out.push_back(text({"URLRewrite: invalid hostname '", rule.rewrite->hostname, "'"}));
    check_path(rule.rewrite->path, rule, "URLRewrite", out);
  }
  if (rule.cors)
    for (auto& p : cors_problems(*rule.cors))
      out.push_back("CORS: " + p);
  for (const auto& m : rule.mirrors)
    if (m.denominator == 0 || m.numerator > m.denominator)
      out.push_back(text({"RequestMirror: fraction ", std::to_string(m.numerator), "/",
                          std::to_string(m.denominator), " is not between 0 and 1"}));
  return out;
}

bool replaces_field(const header_modifier& m, std::string_view name) noexcept {
  for (const auto& r : m.remove)
    if (http::iequals(r, name)) return true;
  for (const auto& s : m.set)
    if (http::iequals(s.name, name)) return true;
  return false;
}

bool sets_field(const header_modifier& m, std::string_view name) noexcept {
  for (const auto& s : m.set)
    if (http::iequals(s.name, name)) return true;
  for (const auto& a : m.add)
    if (http::iequals(a.name, name)) return true;
  return false;
}

void modifier_fields(const header_modifier& m, std::vector<http::header>& out) {
  for (const auto& s : m.set)
    out.push_back({s.name, s.value});
  for (const auto& a : m.add)
    out.push_back({a.name, a.value});
}

void replace_prefix(std::string_view path, std::string_view prefix, std::string_view replacement,
                    std::string& out) {
  // Compare without trailing slashes: "/foo/" and "/foo" match the same paths.
  while (!prefix.empty() && prefix.back() == '/')
    prefix.remove_suffix(1);
  while (!replacement.empty() && replacement.back() == '/')
    replacement.remove_suffix(1);
  std::string_view rest = path.size() >= prefix.size() ? path.substr(prefix.size()) : "";
  out.assign(replacement);
  out.append(rest);
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
}

void rewritten_path(const path_rewrite& rewrite, std::string_view path,
                    std::string_view matched_prefix, const re2::RE2* regex, std::string& out) {
  switch (rewrite.type) {
    case path_rewrite_type::none:
      out.assign(path);
      return;
    case path_rewrite_type::full_path:
      out.assign(rewrite.value);
      return;
    case path_rewrite_type::prefix_match:
      replace_prefix(path, matched_prefix, rewrite.value, out);
      return;
    case path_rewrite_type::regex:
      // The rule matched, so its regex matches; Extract fills in the groups.
      out.clear();
      if (!regex ||
          !RE2::Extract(re2::StringPiece(path.data(), path.size()), *regex, rewrite.value, &out))
        out.assign(path);
      if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
      return;
  }
}

void redirect_location(const request_redirect& r, const redirect_context& rq, std::string& out) {
  std::string_view scheme = r.scheme.empty() ? rq.scheme : std::string_view(r.scheme);
  std::string_view host = r.hostname;
  if (host.empty()) {
    // The request's port is not the redirect's: the rules below decide it.
    host = host_without_port(rq.host);
  }
  std::uint16_t port = r.port;
  if (port == 0) {
    if (!r.scheme.empty())
      port = r.scheme == "https" ? 443 : r.scheme == "http" ? 80 : rq.listener_port;
    else
      port = rq.listener_port;
  }
  out.assign(scheme);
  out.append("://");
  out.append(host);
  const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (port != 0 && !default_port) {
    out.push_back(':');
    append_uint(out, port);
  }
  std::string path;
  rewritten_path(r.path, rq.path, rq.matched_prefix, rq.regex, path);
  out.append(path);
  if (rq.has_query) {
    out.push_back('?');
    out.append(rq.query);
  }
}

bool cors_allows(const cors_policy& policy, std::string_view origin) noexcept {
  if (origin.empty()) return false;
  for (const auto& allowed : policy.allow_origins) {
    if (allowed == "*" || http::iequals(allowed, origin)) return true;
    // "https://*.example.com": same scheme, and a host under the suffix.
    auto star = allowed.find("://*.");
    if (star == std::string::npos) continue;
    std::string_view scheme = std::string_view(allowed).substr(0, star + 3);
    std::string_view suffix = std::string_view(allowed).substr(star + 4);  // ".example.com"
    if (origin.size() > scheme.size() + suffix.size() &&
        http::iequals(origin.substr(0, scheme.size()), scheme) &&
        http::iequals(origin.substr(origin.size() - suffix.size()), suffix))
      return true;
  }
  return false;
}

void cors_response_fields(const cors_policy& p, std::string_view origin,
                          std::vector<http::header>& out, std::string& scratch) {
  using namespace std::string_view_literals;
  const bool any_origin =
      std::find(p.allow_origins.begin(), p.allow_origins.end(), "*") != p.allow_origins.end();
  // With credentials a wildcard is not allowed by browsers: echo what was asked.
  if (any_origin && !p.allow_credentials) {
    out.push_back({"access-control-allow-origin"sv, "*"sv});
  } else {
    out.push_back({"access-control-allow-origin"sv, origin});
    out.push_back({"vary"sv, "Origin"sv});
  }
  if (p.allow_credentials) out.push_back({"access-control-allow-credentials"sv, "true"sv});
  if (!p.expose_headers.empty()) {  // on preflights too: every configured field
    scratch.clear();
    for (std::size_t i = 0; i < p.expose_headers.size(); ++i) {
      if (i) scratch.append(", "sv);
      scratch.append(p.expose_headers[i]);
    }
    out.push_back({"access-control-expose-headers"sv, scratch});
  }
}

void cors_preflight_fields(const cors_policy& p, std::string_view origin,
                           std::string_view request_method, std::string_view request_headers,
                           owned_fields& out) {
  std::string list;  // a preflight is rare: one small string is fine
  auto join = [&](const std::vector<std::string>& values) -> std::string_view {
    list.clear();
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) list.append(", ");
      list.append(values[i]);
    }
    return list;
  };
  {
    std::vector<http::header> fields;
    std::string expose;
    cors_response_fields(p, origin, fields, expose);
    for (const http::header& h : fields)
      out.add(h.name, h.value);
  }
  auto wildcard = [](const std::vector<std::string>& v) {
    return v.size() == 1 && v.front() == "*";
  };
  out.add("access-control-allow-methods",
          wildcard(p.allow_methods) ? (p.allow_credentials ? request_method : std::string_view("*"))
                                    : join(p.allow_methods));
  if (!p.allow_headers.empty())
    out.add("access-control-allow-headers",
            wildcard(p.allow_headers)
                ? (p.allow_credentials ? request_headers : std::string_view("*"))
                : join(p.allow_headers));
  char age[24];
  auto end = std::to_chars(age, age + sizeof age, p.max_age.count()).ptr;
  out.add("access-control-max-age", std::string_view(age, static_cast<std::size_t>(end - age)));
}

}  // namespace gateway
