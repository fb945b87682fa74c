// The C ABI's router handle: a configuration's compiled route tables (its
// snapshot, as the server builds it) matched against a host's requests the
// way a connection's request would be: listener by port and Host, path
// normalised by the listener's rules, then the listener's router.
#include <cstring>

#include "capi_internal.hpp"
#include "pipeline/request_normalizer.hpp"
#include "server/snapshot.hpp"
#include "server/target_url.hpp"

struct gw_router {
  mutable std::mutex mutex;                         // guards `routes`
  std::shared_ptr<const gateway::snapshot> routes;  // null: nothing loaded
  gateway::capi::error_slot errors;
};

struct gw_route_match {
  std::string listener, route, kind, rule;
  std::vector<gateway::backend_ref> backends;
};

namespace {

using gateway::capi::bad_text;
using gateway::capi::fail_on;
using gateway::capi::guarded_on;
using gateway::capi::text;

const gateway::capi::error_slot* slot(const gw_router* r) noexcept {
  return r ? &r->errors : nullptr;
}

gw_status install(gw_router* router, gateway::gateway_config config) {
  std::shared_ptr<const gateway::snapshot> built = gateway::snapshot::build(std::move(config));
  std::lock_guard lock(router->mutex);
  router->routes = std::move(built);
  return GW_OK;
}

}  // namespace

extern "C" {

gw_status gw_router_new(gw_router** out) {
  if (!out) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_router_new: out is NULL");
  *out = nullptr;
  return guarded_on(nullptr, [&] {
    *out = new gw_router();
    return GW_OK;
  });
}

void gw_router_free(gw_router* router) {
  delete router;
}

const char* gw_router_errmsg(const gw_router* router) {
  return gateway::capi::errmsg_of(slot(router));
}

gw_status gw_router_load_yaml(gw_router* router, const char* yaml, size_t length) {
  if (!router || bad_text(yaml, length))
    return fail_on(slot(router), GW_INVALID_ARGUMENT,
                   "gw_router_load_yaml: router is NULL, or yaml is NULL with a length");
  return guarded_on(slot(router), [&] {
    return install(router, gateway::load_yaml(text(yaml, length), "router.yaml"));
  });
}

gw_status gw_router_load_file(gw_router* router, const char* path) {
  if (!router || !path || !*path)
    return fail_on(slot(router), GW_INVALID_ARGUMENT,
                   "gw_router_load_file: router is NULL or path is empty");
  return guarded_on(slot(router), [&] { return install(router, gateway::load_yaml_file(path)); });
}

gw_status gw_router_match(gw_router* router, const gw_request* request, gw_route_match** match) {
  if (!router || !request || !match)
    return fail_on(slot(router), GW_INVALID_ARGUMENT,
                   "gw_router_match: router, request or match is NULL");
  *match = nullptr;
  return guarded_on(slot(router), [&] {
    gw_request r;
    std::string why;
    if (!gateway::capi::read_sized(*request, r, "gw_request", why))
      return fail_on(slot(router), GW_INVALID_ARGUMENT, "gw_router_match: " + why);
    if (bad_text(r.method, r.method_length) || bad_text(r.url, r.url_length) ||
        bad_text(r.listener, r.listener_length) || (!r.headers && r.header_count))
      return fail_on(slot(router), GW_INVALID_ARGUMENT,
                     "gw_router_match: a NULL pointer with a length");
    std::shared_ptr<const gateway::snapshot> routes;
    {
      std::lock_guard lock(router->mutex);
      routes = router->routes;
    }
    if (!routes)
      return fail_on(slot(router), GW_INVALID_STATE, "gw_router_match: no routes loaded");
    gateway::parsed_url url;
    try {
      url = gateway::parse_url(text(r.url, r.url_length), "gw_router_match");
    } catch (const gateway::error& e) {  // the caller's URL, not the config, is wrong
      return fail_on(slot(router), GW_INVALID_ARGUMENT, e.what());
    }
    std::vector<gateway::http::header> headers;
    headers.reserve(r.header_count);
    std::string_view host = url.authority;
    for (std::size_t i = 0; i < r.header_count; ++i) {
      const gw_header& h = r.headers[i];
      if (bad_text(h.name, h.name_length) || bad_text(h.value, h.value_length) || !h.name_length)
        return fail_on(
            slot(router), GW_INVALID_ARGUMENT,
            "gw_router_match: header " + std::to_string(i) + " has no name or a NULL pointer");
      headers.push_back({text(h.name, h.name_length), text(h.value, h.value_length)});
      if (!url.absolute && gateway::http::iequals(headers.back().name, "host"))
        host = headers.back().value;
    }
    const gateway::socket_group& group =
        *gateway::find_group(*routes, url, text(r.listener, r.listener_length), "gw_router_match");
    const gateway::listener_runtime* listener = routes->select(group, host);
    if (!listener) return GW_OK;  // no listener hostname covers the Host: 404
    if (listener->config.protocol != gateway::listener_protocol::http)
      return fail_on(slot(router), GW_NOT_FOUND,
                     "gw_router_match: listener " + listener->config.name +
                         " carries connections (TCP or TLS), not requests");
    const std::string_view target = url.target;
    const std::size_t q = target.find('?');
    std::string_view path = target.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    std::string normal;
    bool unescaped_slash = false, rejected = false;
    if (gateway::normalize_path(path, listener->config.normalization, normal, unescaped_slash,
                                rejected))
      path = normal;
    if (rejected) return GW_OK;  // the gateway refuses the path (400): no route takes it
    gateway::request_view view;
    view.method = r.method_length ? text(r.method, r.method_length) : "GET";
    view.host = host;
    view.path = path;
    view.query = query;
    view.headers = headers;
    const gateway::route_selection sel = listener->table->match(view);
    if (!sel) return GW_OK;
    auto out = std::make_unique<gw_route_match>();
    out->listener = listener->config.name;
    out->route = sel.matched_route->namespace_name + "/" + sel.matched_route->name;
    out->kind = gateway::route_kind_name(sel.matched_route->kind);
    // Appended, not "#" + ...: GCC 12 at -O3 sees a false overflow in operator+ here.
    if (sel.rule->name.empty())
      out->rule.append("#").append(std::to_string(sel.rule_index));
    else
      out->rule = sel.rule->name;
    out->backends = sel.rule->backends;
    *match = out.release();
    return GW_OK;
  });
}

void gw_route_match_free(gw_route_match* match) {
  delete match;
}

const char* gw_route_match_listener(const gw_route_match* match) {
  return match ? match->listener.c_str() : "";
}

const char* gw_route_match_route(const gw_route_match* match) {
  return match ? match->route.c_str() : "";
}

const char* gw_route_match_kind(const gw_route_match* match) {
  return match ? match->kind.c_str() : "";
}

const char* gw_route_match_rule(const gw_route_match* match) {
  return match ? match->rule.c_str() : "";
}

size_t gw_route_match_backend_count(const gw_route_match* match) {
  return match ? match->backends.size() : 0;
}

gw_status gw_route_match_backend(const gw_route_match* match, size_t index, gw_route_backend* out) {
  if (!match || !out)
    return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_route_match_backend: match or out is NULL");
  if (index >= match->backends.size())
    return fail_on(nullptr, GW_NOT_FOUND,
                   "gw_route_match_backend: index " + std::to_string(index) + " of " +
                       std::to_string(match->backends.size()) + " backends");
  const gateway::backend_ref& b = match->backends[index];
  gw_route_backend full{};
  full.name = b.cluster.c_str();
  full.name_length = b.cluster.size();
  full.weight = b.weight;
  full.valid = b.invalid.empty() ? 1 : 0;
  if (!gateway::capi::write_sized(full, *out))
    return fail_on(nullptr, GW_INVALID_ARGUMENT,
                   "gw_route_match_backend: struct_size is not set (use sizeof(gw_route_backend))");
  return GW_OK;
}

}  // extern "C"
