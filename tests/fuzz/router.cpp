// The router, against a plain reading of the Gateway API. The input builds a
// route table (HTTP and gRPC routes, exact/wildcard/any hostnames, every
// path, method, header and query condition, regular expressions good and
// bad) and then requests over the same small vocabulary, so that routes and
// requests meet often. The compiled router (hash buckets, pre-sorted
// candidates) must pick exactly the rule that a linear scan of every match
// picks by the precedence the spec states: hostname (exact, then the longest
// wildcard suffix, Ingress one-label wildcards before Gateway API ones of the
// same suffix, then any host), then path (exact, gRPC method, regular
// expression with the longest pattern, prefix with the most characters), then
// method, most headers, most query parameters, the oldest route, rule order
// and match order. A table that does not compile must say why, never crash.
#include <fuzzer/FuzzedDataProvider.h>
#include <gateway/error.hpp>
#include <gateway/router.hpp>

#include <re2/re2.h>

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "fuzz_check.hpp"

using namespace gateway;

namespace {

std::string pick(FuzzedDataProvider& in, std::initializer_list<const char*> options) {
  return *(options.begin() + in.ConsumeIntegralInRange<std::size_t>(0, options.size() - 1));
}

std::string path_text(FuzzedDataProvider& in) {
  std::string p;
  const int segments = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < segments; ++i)
    p += "/" + pick(in, {"a", "b", "ab", "s.A", "s.B", "M", "N", ""});
  return p.empty() || in.ConsumeBool() ? p + "/" : p;
}

std::string pattern(FuzzedDataProvider& in) {
  return pick(in,
              {"/a.*", "/[ab]+", "/a/b", ".*", "/s\\..*/M", "1|2", "(", "[ab]", "s\\.A", "M|N"});
}

route make_route(FuzzedDataProvider& in, int index) {
  route r;
  r.name = "r" + std::to_string(index);
  r.namespace_name = pick(in, {"default", "other"});
  r.creation_order = in.ConsumeIntegralInRange(0, 2);
  r.kind = in.ConsumeIntegralInRange(0, 3) == 0 ? route_kind::grpc : route_kind::http;
  r.wildcard_one_label = in.ConsumeIntegralInRange(0, 3) == 0;
  const int hosts = in.ConsumeIntegralInRange(0, 2);
  for (int i = 0; i < hosts; ++i)
    r.hostnames.push_back(
        pick(in, {"a.x", "b.a.x", "*.x", "*.a.x", "A.X", "x", "*.b.a.x", "-bad"}));
  const int rules = in.ConsumeIntegralInRange(1, 3);
  for (int i = 0; i < rules; ++i) {
    route_rule& rule = r.rules.emplace_back();
    const int matches = in.ConsumeIntegralInRange(0, 2);
    for (int j = 0; j < matches; ++j) {
      route_match& m = rule.matches.emplace_back();
      if (r.kind == route_kind::grpc) {
        if (in.ConsumeBool()) {
          grpc_method_match g;
          g.type = in.ConsumeIntegralInRange(0, 3) == 0 ? value_match_type::regex
                                                        : value_match_type::exact;
          g.service = g.type == value_match_type::regex ? pick(in, {"", "s\\..*", "s\\.A", "("})
                                                        : pick(in, {"", "s.A", "s.B", "s/A"});
          g.method = g.type == value_match_type::regex ? pick(in, {"", "M|N", ".*"})
                                                       : pick(in, {"", "M", "N"});
          m.grpc = g;
        }
      } else {
        m.path.type = static_cast<path_match_type>(in.ConsumeIntegralInRange(0, 2));
        m.path.value = m.path.type == path_match_type::regex ? pattern(in) : path_text(in);
        if (in.ConsumeIntegralInRange(0, 7) == 0) m.path.value = "a";  // no leading slash
      }
      if (in.ConsumeIntegralInRange(0, 2) == 0) m.method = pick(in, {"GET", "POST"});
      const int headers = in.ConsumeIntegralInRange(0, 2);
      for (int k = 0; k < headers; ++k) {
        const bool re = in.ConsumeIntegralInRange(0, 3) == 0;
        m.headers.push_back({re ? value_match_type::regex : value_match_type::exact,
                             pick(in, {"x-a", "X-B", "x-a"}),
                             re ? pattern(in) : pick(in, {"1", "2"})});
      }
      const int queries = in.ConsumeIntegralInRange(0, 2);
      for (int k = 0; k < queries; ++k) {
        const bool re = in.ConsumeIntegralInRange(0, 3) == 0;
        m.query_params.push_back({re ? value_match_type::regex : value_match_type::exact,
                                  pick(in, {"q", "r", "Q"}),
                                  re ? pattern(in) : pick(in, {"1", "2", ""})});
      }
    }
  }
  return r;
}

// --- the plain reading -------------------------------------------------------

bool full_match(std::string_view text, const std::string& re) {
  return RE2::FullMatch(text, RE2(re, RE2::Quiet));
}

bool header_holds(const header_match& h, std::span<const http::header> headers) {
  for (const http::header& f : headers) {
    if (f.name.size() != h.name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < f.name.size(); ++i)
      same = same && std::tolower(static_cast<unsigned char>(f.name[i])) ==
                         std::tolower(static_cast<unsigned char>(h.name[i]));
    if (!same) continue;  // the first field of that name decides
    return h.type == value_match_type::regex ? full_match(f.value, h.value) : f.value == h.value;
  }
  return false;
}

bool query_holds(const query_match& q, std::string_view query) {
  std::size_t at = 0;
  while (at <= query.size() && !query.empty()) {
    std::size_t end = query.find('&', at);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(at, end - at);
    const std::size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (name == q.name)  // the first parameter of that name decides
      return q.type == value_match_type::regex ? full_match(value, q.value) : value == q.value;
    at = end + 1;
    if (end == query.size()) break;
  }
  return false;
}

// Gateway API PathPrefix: element-wise, a trailing slash of the prefix ignored.
bool prefix_holds(std::string prefix, std::string_view path) {
  while (prefix.size() > 1 && prefix.back() == '/')
    prefix.pop_back();
  if (prefix == "/") return true;
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// How well a route hostname covers the request's host; nullopt when it does
// not. Smaller is better: exact, one-label wildcard, wildcards by longest suffix.
std::optional<std::tuple<int, int>> host_rank(const route& r, std::string_view host) {
  if (r.hostnames.empty()) return std::tuple{3, 0};
  std::optional<std::tuple<int, int>> best;
  for (std::string name : r.hostnames) {
    for (char& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::optional<std::tuple<int, int>> rank;
    if (!name.starts_with("*.")) {
      if (name == host) rank = std::tuple{0, 0};
    } else {
      const std::string suffix = name.substr(1);  // ".x"
      if (host.size() > suffix.size() && host.ends_with(suffix)) {
        const std::string_view label = host.substr(0, host.size() - suffix.size());
        const bool one_label = label.find('.') == std::string_view::npos;
        if (!r.wildcard_one_label)
          rank = std::tuple{2, -static_cast<int>(suffix.size())};
        else if (one_label)
          rank = std::tuple{1, 0};
      }
    }
    if (rank && (!best || *rank < *best)) best = rank;
  }
  return best;
}

struct verdict {
  std::string route_name;
  std::size_t rule = 0, match = 0;
  bool operator==(const verdict&) const = default;
};

std::optional<verdict> reference(std::vector<route> routes, const request_view& rq,
                                 std::string_view host) {
  std::stable_sort(routes.begin(), routes.end(), [](const route& a, const route& b) {
    return std::tie(a.creation_order, a.namespace_name, a.name) <
           std::tie(b.creation_order, b.namespace_name, b.name);
  });
  using key = std::tuple<std::tuple<int, int>, int, int, int, int, int, int, std::size_t,
                         std::size_t, std::size_t>;
  std::optional<std::pair<key, verdict>> best;
  for (std::size_t ri = 0; ri < routes.size(); ++ri) {
    const route& r = routes[ri];
    const auto hr = host_rank(r, host);
    if (!hr) continue;
    for (std::size_t i = 0; i < r.rules.size(); ++i) {
      const std::size_t count = r.rules[i].matches.empty() ? 1 : r.rules[i].matches.size();
      for (std::size_t j = 0; j < count; ++j) {
        static const route_match any{};
        const route_match& m = r.rules[i].matches.empty() ? any : r.rules[i].matches[j];
        // Path: kind (exact 0, gRPC 1, regex 2, prefix 3), then two tie-breakers.
        int kind = 3, first = 0, second = 0;
        if (r.kind == route_kind::grpc) {
          const grpc_method_match g = m.grpc.value_or(grpc_method_match{});
          if (g.type == value_match_type::exact && !g.service.empty() && !g.method.empty()) {
            if (rq.path != "/" + g.service + "/" + g.method) continue;
            kind = 0;
          } else {
            kind = 1;
            first = -static_cast<int>(g.service.size());
            second = -static_cast<int>(g.method.size());
            if (!g.service.empty() || !g.method.empty()) {
              const std::string_view p = rq.path;
              const std::size_t slash = p.size() > 1 ? p.find('/', 1) : std::string_view::npos;
              if (p.size() < 4 || p[0] != '/' || slash == std::string_view::npos || slash == 1 ||
                  slash + 1 == p.size() || p.find('/', slash + 1) != std::string_view::npos)
                continue;
              const std::string_view svc = p.substr(1, slash - 1), meth = p.substr(slash + 1);
              auto holds = [&](const std::string& want, std::string_view got) {
                return want.empty() ||
                       (g.type == value_match_type::regex ? full_match(got, want) : got == want);
              };
              if (!holds(g.service, svc) || !holds(g.method, meth)) continue;
            }
          }
        } else if (m.path.type == path_match_type::exact) {
          if (rq.path != m.path.value) continue;
          kind = 0;
        } else if (m.path.type == path_match_type::regex) {
          if (!full_match(rq.path, m.path.value)) continue;
          kind = 2;
          first = -static_cast<int>(m.path.value.size());
        } else {
          if (!prefix_holds(m.path.value, rq.path)) continue;
          std::string_view v = m.path.value;
          while (v.size() > 1 && v.back() == '/')
            v.remove_suffix(1);
          first = v == "/" ? 0 : -static_cast<int>(v.size());
        }
        if (m.method && *m.method != rq.method) continue;
        bool holds = true;
        for (const auto& h : m.headers)
          holds = holds && header_holds(h, rq.headers);
        for (const auto& q : m.query_params)
          holds = holds && query_holds(q, rq.query);
        if (!holds) continue;
        const key k{*hr,
                    kind,
                    first,
                    second,
                    m.method ? 0 : 1,
                    -static_cast<int>(m.headers.size()),
                    -static_cast<int>(m.query_params.size()),
                    ri,
                    i,
                    j};
        if (!best || k < best->first) best = {k, verdict{r.name, i, j}};
      }
    }
  }
  if (!best) return std::nullopt;
  return best->second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<route> routes;
  const int count = in.ConsumeIntegralInRange(0, 5);
  for (int i = 0; i < count; ++i)
    routes.push_back(make_route(in, i));

  std::error_code ec;
  std::string message;
  const auto table = router::compile(routes, ec, message);
  if (!table) {
    FUZZ_CHECK(ec == errc::invalid_config && !message.empty());
    return 0;
  }
  for (int n = 0; n < 8 && in.remaining_bytes() > 0; ++n) {
    std::string host_name = pick(in, {"a.x", "b.a.x", "c.b.a.x", "x", "A.X", "y", ""});
    std::string host = host_name;
    if (in.ConsumeBool()) host += ".";
    if (in.ConsumeBool()) host += ":8080";
    const std::string method = pick(in, {"GET", "POST", "get"});
    const std::string path =
        in.ConsumeBool() ? path_text(in) : "/" + in.ConsumeRandomLengthString(12);
    std::string query;
    const int params = in.ConsumeIntegralInRange(0, 3);
    for (int i = 0; i < params; ++i)
      query += std::string(i ? "&" : "") + pick(in, {"q=1", "q=2", "r", "r=1", "Q=1", "q=", "=1"});
    std::vector<http::header> headers;
    const int fields = in.ConsumeIntegralInRange(0, 3);
    std::vector<std::string> values;
    for (int i = 0; i < fields; ++i)
      values.push_back(pick(in, {"1", "2", "3"}));
    for (int i = 0; i < fields; ++i)
      headers.push_back({i % 2 ? "X-A" : "x-b", values[i]});
    if (fields == 3) headers[2].name = "x-a";  // a second field of one name
    const request_view rq{method, host, path, query, headers};

    const route_selection got = table->match(rq);
    std::string key = host_name;
    for (char& c : key)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto want = reference(routes, rq, key);
    FUZZ_CHECK(static_cast<bool>(got) == want.has_value());
    if (got)
      FUZZ_CHECK((verdict{got.matched_route->name, got.rule_index, got.match_index} == *want));
  }
  return 0;
}
