// explain_waf: a request routed through a config the way the gateway routes
// it, then through the WAF policy on the rule it lands on, in process.
#include <gateway/config.hpp>
#include <gateway/router.hpp>
#include <gateway/waf.hpp>

#include <charconv>

#include "pipeline/listener_choice.hpp"
#include "pipeline/request_normalizer.hpp"
#include "waf/waf_filter.hpp"

namespace gateway {

namespace {

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
  http1::request_head rq;
  rq.method = request.method;
  rq.target = request.uri;
  rq.headers.assign(request.headers.begin(), request.headers.end());
  for (const http::header& h : rq.headers)
    if (http::iequals(h.name, "host")) rq.host = h.value;
  const std::size_t q = rq.target.find('?');
  rq.path = rq.target.substr(0, q);
  rq.query = q == std::string_view::npos ? std::string_view() : rq.target.substr(q + 1);

  // Every listener is a candidate (a request here has no socket), chosen as
  // the server chooses among listeners sharing one.
  std::vector<std::size_t> members;
  for (std::size_t i = 0; i < config.listeners.size(); ++i)
    if (listener.empty() || config.listeners[i].name == listener) members.push_back(i);
  auto hostname_of = [&](std::size_t i) -> std::string_view {
    return config.listeners[i].hostname;
  };
  order_listeners(members, hostname_of);
  const std::size_t* found = choose_listener(members, rq.host, hostname_of);
  if (!found) return out;
  const listener_config* chosen = &config.listeners[*found];
  out.listener = chosen->name;

  std::string target_buf;
  switch (normalize_request(rq, chosen->normalization, target_buf)) {
    case normalize_result::reject:
      out.refused = 400;
      return out;
    case normalize_result::redirect:
      out.refused = 307;
      out.target = rq.target;
      return out;
    case normalize_result::ok:
      break;
  }
  out.target = rq.target;
  request_view view;
  view.method = rq.method;
  view.host = rq.host;
  view.path = rq.path;
  view.query = rq.query;
  view.headers = rq.headers;
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
  r.uri = out.target;
  r.headers = rq.headers;
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
