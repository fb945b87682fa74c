// The compiled route table behind gateway::router. Candidates are grouped by
// hostname (exact, then wildcard suffixes from the longest, then any host) and
// by path kind, and pre-sorted by the Gateway API precedence, so a match is a
// few hash lookups plus the condition checks of the candidates on that path.
#include <gateway/error.hpp>
#include <gateway/router.hpp>

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <deque>
#include <string>
#include <unordered_map>

#include "router/host_name.hpp"

namespace gateway {
namespace {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
template <typename V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

struct candidate {
  const route* owner = nullptr;
  const route_rule* rule = nullptr;
  const route_match* spec = nullptr;
  std::size_t route_rank = 0;
  std::size_t rule_index = 0;
  std::size_t match_index = 0;
  std::unique_ptr<re2::RE2> path_re;
  std::vector<std::unique_ptr<re2::RE2>> header_re;  // parallel to spec->headers
  std::vector<std::unique_ptr<re2::RE2>> query_re;   // parallel to spec->query_params
  // A gRPC method match outside the exact-path table (see impl::add).
  const grpc_method_match* grpc = nullptr;
  std::unique_ptr<re2::RE2> service_re, method_re;
};

// Gateway API: method match, then most header matches, then most query matches,
// then the older route, then rule and match order.
bool precedes(const candidate* a, const candidate* b) {
  bool am = a->spec->method.has_value(), bm = b->spec->method.has_value();
  if (am != bm) return am;
  if (a->spec->headers.size() != b->spec->headers.size())
    return a->spec->headers.size() > b->spec->headers.size();
  if (a->spec->query_params.size() != b->spec->query_params.size())
    return a->spec->query_params.size() > b->spec->query_params.size();
  if (a->route_rank != b->route_rank) return a->route_rank < b->route_rank;
  if (a->rule_index != b->rule_index) return a->rule_index < b->rule_index;
  return a->match_index < b->match_index;
}

// GRPCRoute: the most characters of service, then of method, then the most
// header matches, then the common order. (A regular expression counts its
// pattern's characters: its precedence is ours to choose, as the spec says.)
bool grpc_precedes(const candidate* a, const candidate* b) {
  if (a->grpc->service.size() != b->grpc->service.size())
    return a->grpc->service.size() > b->grpc->service.size();
  if (a->grpc->method.size() != b->grpc->method.size())
    return a->grpc->method.size() > b->grpc->method.size();
  return precedes(a, b);
}

struct host_bucket {
  string_map<std::vector<const candidate*>> exact;
  std::vector<const candidate*> grpc;  // gRPC matches but exact service and method
  std::vector<const candidate*> regex;
  string_map<std::vector<const candidate*>> prefix;
  bool empty() const { return exact.empty() && grpc.empty() && regex.empty() && prefix.empty(); }
};

// "/SERVICE/METHOD" split in its two parts; false for a path of another shape.
bool grpc_parts(std::string_view path, std::string_view& service, std::string_view& method) {
  if (path.size() < 4 || path.front() != '/') return false;
  const auto slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) return false;
  if (path.find('/', slash + 1) != std::string_view::npos) return false;
  service = path.substr(1, slash - 1);
  method = path.substr(slash + 1);
  return true;
}

bool grpc_part_holds(std::string_view want, const re2::RE2* re, std::string_view got) {
  if (want.empty()) return true;
  return re ? re2::RE2::FullMatch(got, *re) : got == want;
}

std::string_view query_value(std::string_view query, std::string_view name, bool& found) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      found = true;
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  found = false;
  return {};
}

bool conditions_hold(const candidate& c, const request_view& rq) {
  const route_match& m = *c.spec;
  if (m.method && *m.method != rq.method) return false;
  for (std::size_t i = 0; i < m.headers.size(); ++i) {
    const http::header* h = http::find_header(rq.headers, m.headers[i].name);
    if (!h) return false;
    if (c.header_re[i] ? !re2::RE2::FullMatch(h->value, *c.header_re[i])
                       : h->value != m.headers[i].value)
      return false;
  }
  for (std::size_t i = 0; i < m.query_params.size(); ++i) {
    bool found = false;
    std::string_view v = query_value(rq.query, m.query_params[i].name, found);
    if (!found) return false;
    if (c.query_re[i] ? !re2::RE2::FullMatch(v, *c.query_re[i]) : v != m.query_params[i].value)
      return false;
  }
  return true;
}

const candidate* first_holding(const std::vector<const candidate*>& list, const request_view& rq) {
  for (const candidate* c : list)
    if (conditions_hold(*c, rq)) return c;
  return nullptr;
}

const candidate* match_bucket(const host_bucket& b, const request_view& rq) {
  if (!b.exact.empty()) {
    if (auto it = b.exact.find(rq.path); it != b.exact.end())
      if (auto* c = first_holding(it->second, rq)) return c;
  }
  if (!b.grpc.empty()) {
    std::string_view service, method;
    const bool shaped = grpc_parts(rq.path, service, method);
    for (const candidate* c : b.grpc) {
      const grpc_method_match& g = *c->grpc;
      if (!g.service.empty() || !g.method.empty()) {
        if (!shaped || !grpc_part_holds(g.service, c->service_re.get(), service) ||
            !grpc_part_holds(g.method, c->method_re.get(), method))
          continue;
      }
      if (conditions_hold(*c, rq)) return c;
    }
  }
  for (const candidate* c : b.regex)
    if (re2::RE2::FullMatch(rq.path, *c->path_re) && conditions_hold(*c, rq)) return c;
  if (b.prefix.empty()) return nullptr;
  std::string_view path = rq.path;
  std::size_t end = path.size();
  for (;;) {
    std::string_view key = end == 0 ? std::string_view("/") : path.substr(0, end);
    if (auto it = b.prefix.find(key); it != b.prefix.end())
      if (auto* c = first_holding(it->second, rq)) return c;
    if (end == 0) break;
    auto slash = path.rfind('/', end - 1);
    if (slash == std::string_view::npos) break;
    end = slash;
  }
  return nullptr;
}

std::unique_ptr<re2::RE2> compile_regex(const std::string& pattern, const std::string& where) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, options);
  if (!re->ok())
    throw error(errc::invalid_config, fmt::format("{}: invalid regular expression '{}': {}", where,
                                                  pattern, re->error()));
  return re;
}

std::string normalized_prefix(std::string_view v) {
  while (v.size() > 1 && v.back() == '/')
    v.remove_suffix(1);
  return std::string(v);
}

}  // namespace

struct router::impl {
  std::vector<route> routes;
  std::deque<candidate> candidates;
  string_map<host_bucket> exact_hosts;
  string_map<host_bucket> wildcard_hosts;   // key: ".suffix"
  string_map<host_bucket> one_label_hosts;  // key: ".suffix", Ingress wildcards
  host_bucket any_host;

  void add(const candidate* c) {
    auto place = [&](host_bucket& b) {
      if (c->owner->kind == route_kind::grpc) {
        if (c->grpc)
          b.grpc.push_back(c);
        else  // exact service and method: a path like any other
          b.exact["/" + c->spec->grpc->service + "/" + c->spec->grpc->method].push_back(c);
        return;
      }
      const path_match& p = c->spec->path;
      switch (p.type) {
        case path_match_type::exact:
          b.exact[p.value].push_back(c);
          break;
        case path_match_type::prefix:
          b.prefix[normalized_prefix(p.value)].push_back(c);
          break;
        case path_match_type::regex:
          b.regex.push_back(c);
          break;
      }
    };
    if (c->owner->hostnames.empty()) {
      place(any_host);
      return;
    }
    for (const std::string& h : c->owner->hostnames) {
      std::string host = lowercase_host(h);
      if (host.starts_with("*."))
        place((c->owner->wildcard_one_label ? one_label_hosts : wildcard_hosts)[host.substr(1)]);
      else
        place(exact_hosts[host]);
    }
  }

  static void sort_bucket(host_bucket& b) {
    for (auto& [k, v] : b.exact)
      std::stable_sort(v.begin(), v.end(), precedes);
    for (auto& [k, v] : b.prefix)
      std::stable_sort(v.begin(), v.end(), precedes);
    std::stable_sort(b.grpc.begin(), b.grpc.end(), grpc_precedes);
    // Regex precedence is implementation-specific: longer patterns first, as
    // Envoy Gateway orders them, then the common criteria.
    std::stable_sort(b.regex.begin(), b.regex.end(), [](const candidate* a, const candidate* c) {
      if (a->spec->path.value.size() != c->spec->path.value.size())
        return a->spec->path.value.size() > c->spec->path.value.size();
      return precedes(a, c);
    });
  }

  // A gRPC route's match: exact service and method go to the exact-path
  // table (the most specific there is); the others to the gRPC list.
  static void compile_grpc(candidate& c, const route_match& spec, const std::string& where) {
    static const grpc_method_match any_method{};
    const grpc_method_match& g = spec.grpc ? *spec.grpc : any_method;
    if (g.type == value_match_type::exact) {
      for (const std::string* part : {&g.service, &g.method})
        if (part->find('/') != std::string::npos)
          throw error(
              errc::invalid_config,
              fmt::format("{}: an Exact gRPC service or method has no '/': '{}'", where, *part));
      if (!g.service.empty() && !g.method.empty()) return;
    } else {
      if (!g.service.empty()) c.service_re = compile_regex(g.service, where + " service");
      if (!g.method.empty()) c.method_re = compile_regex(g.method, where + " method");
    }
    c.grpc = &g;
  }

  void build() {
    std::stable_sort(routes.begin(), routes.end(), [](const route& a, const route& b) {
      if (a.creation_order != b.creation_order) return a.creation_order < b.creation_order;
      if (a.namespace_name != b.namespace_name) return a.namespace_name < b.namespace_name;
      return a.name < b.name;
    });
    static const route_match default_match{};
    for (std::size_t r = 0; r < routes.size(); ++r) {
      const route& rt = routes[r];
      std::string route_name = "route " + rt.namespace_name + "/" + rt.name;
      for (const std::string& h : rt.hostnames) {
        if (!valid_route_hostname(h))
          throw error(errc::invalid_config,
                      fmt::format("{}: invalid hostname '{}'", route_name, h));
      }
      for (std::size_t i = 0; i < rt.rules.size(); ++i) {
        const route_rule& rule = rt.rules[i];
        std::size_t count = rule.matches.empty() ? 1 : rule.matches.size();
        for (std::size_t m = 0; m < count; ++m) {
          const route_match& spec = rule.matches.empty() ? default_match : rule.matches[m];
          std::string where =
              route_name + " rule " + std::to_string(i) + " match " + std::to_string(m);
          candidate& c = candidates.emplace_back();
          c.owner = &rt;
          c.rule = &rule;
          c.spec = &spec;
          c.route_rank = r;
          c.rule_index = i;
          c.match_index = m;
          if (rt.kind == route_kind::grpc) {
            compile_grpc(c, spec, where);
          } else if (spec.grpc) {
            throw error(errc::invalid_config,
                        fmt::format("{}: a gRPC method match needs a gRPC route", where));
          } else if (spec.path.type == path_match_type::regex) {
            c.path_re = compile_regex(spec.path.value, where + " path");
          } else if (spec.path.value.empty() || spec.path.value.front() != '/') {
            throw error(
                errc::invalid_config,
                fmt::format("{}: path value must start with '/': '{}'", where, spec.path.value));
          }
          for (const auto& h : spec.headers) {
            if (h.name.empty())
              throw error(errc::invalid_config,
                          fmt::format("{}: header match without a name", where));
            c.header_re.push_back(h.type == value_match_type::regex
                                      ? compile_regex(h.value, where + " header " + h.name)
                                      : nullptr);
          }
          for (const auto& q : spec.query_params) {
            if (q.name.empty())
              throw error(errc::invalid_config,
                          fmt::format("{}: query match without a name", where));
            c.query_re.push_back(q.type == value_match_type::regex
                                     ? compile_regex(q.value, where + " query " + q.name)
                                     : nullptr);
          }
          add(&c);
        }
      }
    }
    for (auto& [k, b] : exact_hosts)
      sort_bucket(b);
    for (auto* wild : {&wildcard_hosts, &one_label_hosts})
      for (auto& [k, b] : *wild)
        sort_bucket(b);
    sort_bucket(any_host);
  }
};

router::router(std::vector<route> routes) : impl_(std::make_unique<impl>()) {
  impl_->routes = std::move(routes);
  impl_->build();
}

std::unique_ptr<router> router::compile(std::vector<route> routes, std::error_code& ec,
                                        std::string& message) {
  try {
    ec.clear();
    return std::make_unique<router>(std::move(routes));
  } catch (const error& e) {
    ec = e.code();
    message = e.what();
  } catch (const std::exception& e) {
    ec = errc::invalid_config;
    message = e.what();
  }
  return nullptr;
}

router::router(router&&) noexcept = default;
router& router::operator=(router&&) noexcept = default;
router::~router() = default;

std::span<const route> router::routes() const noexcept {
  return impl_->routes;
}

route_selection router::match(const request_view& rq) const noexcept {
  char storage[max_host_length];
  std::string_view host = request_host_key(rq.host, storage);
  const candidate* hit = nullptr;
  if (!host.empty()) {
    if (!impl_->exact_hosts.empty()) {
      if (auto it = impl_->exact_hosts.find(host); it != impl_->exact_hosts.end())
        hit = match_bucket(it->second, rq);
    }
    // An Ingress "*.example.com" covers one label before ".example.com"...
    if (const auto dot = host.find('.');
        !hit && dot != std::string_view::npos && !impl_->one_label_hosts.empty()) {
      if (auto it = impl_->one_label_hosts.find(host.substr(dot));
          it != impl_->one_label_hosts.end())
        hit = match_bucket(it->second, rq);
    }
    // ...a Gateway API one any name with one or more labels before it.
    for (auto dot = host.find('.');
         !hit && dot != std::string_view::npos && !impl_->wildcard_hosts.empty();
         dot = host.find('.', dot + 1)) {
      if (auto it = impl_->wildcard_hosts.find(host.substr(dot)); it != impl_->wildcard_hosts.end())
        hit = match_bucket(it->second, rq);
    }
  }
  if (!hit) hit = match_bucket(impl_->any_host, rq);
  if (!hit) return {};
  return {hit->owner, hit->rule, hit->rule_index, hit->match_index};
}

const char* route_kind_name(route_kind k) noexcept {
  switch (k) {
    case route_kind::grpc:
      return "GRPCRoute";
    case route_kind::tcp:
      return "TCPRoute";
    case route_kind::tls:
      return "TLSRoute";
    case route_kind::http:
      break;
  }
  return "HTTPRoute";
}

}  // namespace gateway
