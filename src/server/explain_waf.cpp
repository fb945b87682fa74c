// explain_waf: a request served through a config by the pipeline (an
// in-process evaluation), with what the WAF policy on its rule decided.
#include <gateway/config.hpp>
#include <gateway/router.hpp>
#include <gateway/waf.hpp>

#include <algorithm>

#include "pipeline/listener_choice.hpp"
#include "server/evaluation.hpp"
#include "server/snapshot.hpp"
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
  const std::shared_ptr<const snapshot> snap = snapshot::build(config);
  std::string_view host;
  for (const http::header& h : request.headers)
    if (http::iequals(h.name, "host")) host = h.value;

  // Every listener is a candidate (a request here has no socket), chosen as
  // the server chooses among listeners sharing one; the request then arrives
  // on that listener's socket group.
  std::vector<std::size_t> members;
  for (std::size_t i = 0; i < snap->listeners.size(); ++i)
    if (listener.empty() || snap->listeners[i].config.name == listener) members.push_back(i);
  auto hostname_of = [&](std::size_t i) -> std::string_view {
    return snap->listeners[i].config.hostname;
  };
  order_listeners(members, hostname_of);
  const std::size_t* found = choose_listener(members, host, hostname_of);
  if (!found) return out;
  const socket_group* group = nullptr;
  for (const socket_group& g : snap->groups)
    if (std::find(g.members.begin(), g.members.end(), *found) != g.members.end()) group = &g;
  if (!group) return out;

  // The request served by the pipeline, up to where it would go upstream.
  evaluation_request rq;
  rq.method.assign(request.method);
  rq.url.assign(request.uri);
  bool has_id = false;
  for (const http::header& h : request.headers) {
    rq.headers.emplace_back(h.name, h.value);
    has_id = has_id || http::iequals(h.name, "x-request-id");
  }
  if (!has_id && !request.request_id.empty())
    rq.headers.emplace_back("x-request-id", request.request_id);
  rq.body.assign(request.body);
  rq.client_ip.assign(request.client_ip);
  server_shared shared;
  shared.log = logger(log_level::error, {});
  evaluation_detail detail;
  const evaluation_result r = evaluate_on(*snap, *group, rq, shared, &detail);
  out.listener = r.listener.empty() ? snap->listeners[*found].config.name : r.listener;
  out.target = detail.target;
  const int status = r.response ? r.response->status : 0;
  if (!detail.rule && (status == 400 || status == 307)) {
    out.refused = status;  // the gateway's answer before routing
    return out;
  }
  out.route = r.route;
  out.rule = r.rule;
  if (!detail.rule || !detail.listener) return out;
  auto use = waf_on(detail.listener->config, *detail.rule);
  if (!use || !use->engine || use->mode == waf_mode::off) return out;
  out.inspected = true;
  out.mode = use->mode;
  if (detail.waf) {
    out.verdict = *detail.waf;
  } else if (status == 413) {  // the body was over the policy's limit before the rules ran
    out.verdict.action = waf_action::deny;
    out.verdict.status = 413;
    out.verdict.phase = 2;
  }
  return out;
}

}  // namespace gateway
