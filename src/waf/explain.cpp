// explain_waf: a request routed through a config the way the gateway routes
// it, then through the WAF policy on the rule it lands on, in process.
#include <gateway/config.hpp>
#include <gateway/router.hpp>
#include <gateway/waf.hpp>

#include <charconv>

#include "router/host_name.hpp"
#include "server/path_normalizer.hpp"
#include "waf/waf_filter.hpp"

namespace gateway {

namespace {

bool listener_takes(const listener_config& l, std::string_view host) {
  if (l.hostname.empty()) return true;
  char storage[max_host_length];
  const std::string_view h = request_host_key(host, storage);
  if (l.hostname.front() == '*') {
    const std::string_view suffix = std::string_view(l.hostname).substr(1);  // ".example.com"
    return h.size() > suffix.size() && h.substr(h.size() - suffix.size()) == suffix;
  }
  return h == l.hostname;
}

// The WAF filter on a rule (its own chain after the listener's), if any.
std::optional<waf::waf_use> waf_on(const listener_config& l, const route_rule& rule) {
  std::optional<waf::waf_use> found;
  for (const auto* chain : {&l.filters, &rule.filters})
    for (const filter_ref& f : *chain)
      if (f.factory)
        if (auto use = waf::waf_use_of(*f.factory)) found = use;
  return found;
}

}  // namespace

waf_explanation explain_waf(const gateway_config& config, const waf_request& request,
                            std::string_view listener) {
  waf_explanation out;
  std::string_view host;
  for (const http::header& h : request.headers)
    if (http::iequals(h.name, "host")) host = h.value;
  const listener_config* chosen = nullptr;
  for (const listener_config& l : config.listeners) {
    if (listener.empty() ? listener_takes(l, host) : l.name == listener) {
      chosen = &l;
      break;
    }
  }
  if (!chosen) return out;
  out.listener = chosen->name;

  const std::string_view target = request.uri;
  const std::size_t q = target.find('?');
  std::string path(target.substr(0, q));
  if (needs_normalization(path)) {
    std::string normal;
    normalize_path(path, normal);
    path = std::move(normal);
  }
  request_view view;
  view.method = request.method;
  view.host = host;
  view.path = path;
  view.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  view.headers = request.headers;
  router table(chosen->routes);
  route_selection picked = table.match(view);
  if (!picked) return out;
  out.route.assign(picked.matched_route->namespace_name)
      .append("/")
      .append(picked.matched_route->name);
  if (picked.rule->name.empty()) {
    char number[24] = {'#'};
    auto end = std::to_chars(number + 1, number + sizeof number, picked.rule_index).ptr;
    out.rule.assign(number, static_cast<std::size_t>(end - number));
  } else {
    out.rule = picked.rule->name;
  }

  auto use = waf_on(*chosen, *picked.rule);
  if (!use || !use->engine || use->mode == waf_mode::off) return out;
  out.inspected = true;
  out.mode = use->mode;
  waf_request r = request;
  if (!use->request_body) r.body = {};
  if (r.body.size() > use->request_body_limit) {
    if (use->request_overflow == body_overflow::reject) {
      out.verdict.action = waf_action::deny;
      out.verdict.status = 413;
      out.verdict.phase = 2;
      return out;
    }
    r.body = r.body.substr(0, use->request_body_limit);
  }
  out.verdict = use->engine->evaluate(r, use->mode, *use->exclusions);
  return out;
}

}  // namespace gateway
