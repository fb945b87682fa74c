// Routing, the upstream head and local reply bytes: the I/O-free steps that
// a connection and an in-process evaluation share (see request_steps.hpp).
#include "pipeline/request_steps.hpp"

#include <cstring>

#include "http1/serializer.hpp"
#include "pipeline/route_filters.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {

bool is_named(std::string_view name, std::string_view lower) {
  return name.size() == lower.size() && http::iequals(name, lower);
}
}  // namespace

admission admit_request(const snapshot& snap, const socket_group& group,
                        const listener_runtime& fallback, http1::request_head& rq,
                        std::string_view assumed_authority, std::string& target_buf) {
  admission a;
  if (rq.host.empty()) rq.host = assumed_authority;
  a.chosen = snap.select(group, rq.host);
  a.listener = a.chosen ? a.chosen : &fallback;
  a.normalized = normalize_request(rq, a.listener->config.normalization, target_buf);
  return a;
}

namespace {
// The backend variant of `rule` (backendRefs[].filters) a request takes, by
// the variants' weights; the rule itself when none can take it.
const route_rule* pick_variant(const listener_runtime& lr, const route_rule& rule,
                               std::uint64_t ticket) noexcept {
  std::uint64_t total = 0;
  for (const route_rule& v : rule.backend_variants)
    if (auto it = lr.rules.find(&v); it != lr.rules.end()) total += it->second.total_weight;
  if (total == 0) return &rule;
  ticket %= total;
  for (const route_rule& v : rule.backend_variants) {
    auto it = lr.rules.find(&v);
    const std::uint64_t w = it == lr.rules.end() ? 0 : it->second.total_weight;
    if (ticket < w) return &v;
    ticket -= w;
  }
  return &rule;
}
}  // namespace

route_plan plan_route(const listener_runtime& lr, bool routable, const http1::request_head& rq,
                      bool https, std::uint64_t ticket, owned_fields& fields, std::string& scratch,
                      std::string& cors_origin) {
  route_plan plan;
  fields.clear();
  const std::string_view path = rq.path;  // normalised already (normalize_request)
  const request_view view{rq.method, rq.host, path, rq.query, rq.headers};
  route_selection sel = routable ? lr.table->match(view) : route_selection{};
  if (sel && !sel.rule->backend_variants.empty()) sel.rule = pick_variant(lr, *sel.rule, ticket);
  plan.selection = sel;
  plan.path = path;
  if (sel) {
    if (auto found = lr.rules.find(sel.rule); found != lr.rules.end()) {
      plan.resolved = &found->second;
      plan.path_regex = plan.resolved->path_regex.get();
    }
    plan.request_timeout = sel.rule->request_timeout.count() > 0 ? sel.rule->request_timeout
                                                                 : lr.config.limits.request_timeout;
    plan.try_timeout = sel.rule->backend_request_timeout.count() > 0
                           ? std::min(sel.rule->backend_request_timeout, plan.request_timeout)
                           : plan.request_timeout;
    if (sel.rule->retry && sel.rule->retry->per_try_timeout.count() > 0)
      plan.try_timeout = std::min(plan.try_timeout, sel.rule->retry->per_try_timeout);
    if (!sel.rule->matches.empty())
      plan.matched_prefix = sel.rule->matches[sel.match_index].path.value;
    if (sel.rule->redirect) {
      redirect_context rc;
      rc.scheme = https ? "https" : "http";
      rc.host = rq.host;
      rc.path = path;
      rc.query = rq.query;
      rc.has_query = rq.target.find('?') != std::string_view::npos;
      rc.listener_port = lr.config.port;
      rc.matched_prefix = plan.matched_prefix;
      rc.regex = plan.path_regex;
      redirect_location(*sel.rule->redirect, rc, scratch);
      fields.add("location"sv, scratch);
    }
  }
  cors_origin.clear();
  if (sel && sel.rule->cors) {
    const auto* origin = http::find_header(rq.headers, "origin");
    const auto* method = http::find_header(rq.headers, "access-control-request-method");
    // A preflight is the gateway's to answer, allowed or not: its CORS
    // fields say which (none for an origin it does not allow).
    const bool preflight = origin && method && rq.method == "OPTIONS";
    if (preflight) {
      fields.clear();
      plan.cors_preflight = true;
    }
    if (origin && cors_allows(*sel.rule->cors, origin->value)) {
      cors_origin.assign(origin->value);
      if (preflight) {
        const auto* asked = http::find_header(rq.headers, "access-control-request-headers");
        cors_preflight_fields(*sel.rule->cors, origin->value, method->value,
                              asked ? asked->value : std::string_view(), fields);
      }
    }
  }
  return plan;
}

void make_upstream_request(const upstream_head_input& in, upstream_scratch& s) {
  const http1::request_head& rq = *in.request;
  const route_rule* rule = in.rule;
  const url_rewrite* rewrite = rule && rule->rewrite ? &*rule->rewrite : nullptr;
  const header_modifier* modifier =
      rule && !rule->request_headers.empty() ? &rule->request_headers : nullptr;
  s.method = rq.method;
  const bool absolute_form = rq.target.front() != '/' && rq.target != "*";
  const bool rewrite_path = rewrite && rewrite->path.type != path_rewrite_type::none;
  if (absolute_form || rewrite_path || in.query_replaced) {
    if (rewrite_path)
      rewritten_path(rewrite->path, in.path, in.matched_prefix, in.path_regex, s.target_buf);
    else
      s.target_buf.assign(in.path);
    if (!rq.query.empty() ||
        (!in.query_replaced && rq.target.find('?') != std::string_view::npos)) {
      s.target_buf.push_back('?');
      s.target_buf.append(rq.query);
    }
    s.target = s.target_buf;
  } else {
    s.target = rq.target;
  }
  std::vector<http::header>& out = s.fields;
  out.clear();
  // The authority routed on goes upstream: the absolute form's, a rewrite's,
  // or (a request without Host, HTTP/1.0) the one the gateway assumed.
  const bool replace_host = rq.absolute_form || (rewrite && !rewrite->hostname.empty());
  bool has_host = false;
  const http::header* first_xff = nullptr;
  const http::header* first_via = nullptr;
  const http::header* first_xfcc = nullptr;
  // X-Forwarded-Client-Cert: dropped unless the listener passes it on, and on
  // mTLS connections appended to or replaced with this client's element.
  using xfcc_mode = client_cert_forwarding::mode;
  const client_cert_forwarding& xfcc = in.listener->forward_client_cert;
  const bool mtls = in.tls && in.tls->info().peer_certificate;
  const bool pass_xfcc =
      xfcc.how == xfcc_mode::always_forward_only || (mtls && xfcc.how == xfcc_mode::forward_only);
  const bool add_xfcc =
      mtls && (xfcc.how == xfcc_mode::append_forward || xfcc.how == xfcc_mode::sanitize_set);
  for (const http::header& h : rq.headers) {
    if (http1::is_hop_by_hop(h.name, rq.connection_tokens)) continue;
    if (is_named(h.name, "content-length") || is_named(h.name, "expect") ||
        is_named(h.name, "x-forwarded-proto") || is_named(h.name, "x-forwarded-host") ||
        (replace_host && is_named(h.name, "host")) ||
        (modifier && replaces_field(*modifier, h.name)) ||
        (!in.traceparent.empty() && is_named(h.name, "traceparent")))
      continue;
    if (is_named(h.name, "host")) has_host = true;
    if (is_named(h.name, "x-forwarded-for")) {
      if (!first_xff) first_xff = &h;
      continue;
    }
    if (is_named(h.name, "via")) {
      if (!first_via) first_via = &h;
      continue;
    }
    if (is_named(h.name, "x-forwarded-client-cert")) {
      if (pass_xfcc) out.push_back(h);
      if (!first_xfcc) first_xfcc = &h;
      continue;
    }
    out.push_back(h);
  }
  // Merged lists (RFC 7239 style) with this hop appended: the client's own
  // values are copied only when there are some.
  auto merged = [&](const http::header* first, std::string_view name, std::string_view sep,
                    std::string_view hop, std::string& buf) -> std::string_view {
    if (!first) return hop;
    buf.clear();
    for (const http::header& h : rq.headers)
      if (&h >= first && is_named(h.name, name)) buf.append(h.value).append(sep);
    buf.append(hop);
    return buf;
  };
  if (add_xfcc) {
    std::string_view element = in.tls->forwarded_element(xfcc);
    out.push_back({"x-forwarded-client-cert"sv,
                   xfcc.how == xfcc_mode::append_forward
                       ? merged(first_xfcc, "x-forwarded-client-cert", ","sv, element, s.xfcc)
                       : element});
  }
  if ((replace_host || !has_host) && !(modifier && sets_field(*modifier, "host")))
    out.push_back({"host"sv, rewrite && !rewrite->hostname.empty()
                                 ? std::string_view(rewrite->hostname)
                                 : rq.host});
  out.push_back(
      {"x-forwarded-for"sv, merged(first_xff, "x-forwarded-for", ", "sv, in.client_ip, s.xff)});
  out.push_back({"x-forwarded-proto"sv, in.https ? "https"sv : "http"sv});
  if (!rq.host.empty()) out.push_back({"x-forwarded-host"sv, rq.host});
  out.push_back({"via"sv, merged(first_via, "via", ", "sv,
                                 rq.version_major == 2   ? "2 gateway"sv
                                 : rq.version_minor == 0 ? "1.0 gateway"sv
                                                         : "1.1 gateway"sv,
                                 s.via)});
  if (!in.generated_request_id.empty()) out.push_back({"x-request-id"sv, in.generated_request_id});
  if (!in.traceparent.empty()) out.push_back({"traceparent"sv, in.traceparent});
  if (!in.upgrade.empty()) {  // hop-by-hop, so asked for again on this hop
    out.push_back({"connection"sv, "upgrade"sv});
    out.push_back({"upgrade"sv, in.upgrade});
  }
  if (modifier) modifier_fields(*modifier, out);
}

void write_upstream_head(std::string& out, upstream_scratch& scratch,
                         const upstream_head_input& in) {
  make_upstream_request(in, scratch);
  const http1::request_head& rq = *in.request;
  http1::request_framing framing;
  framing.chunked = rq.chunked;
  framing.has_length = rq.has_content_length;
  framing.length = rq.content_length;
  http1::write_request_head(out, scratch.method, scratch.target, scratch.fields, framing);
}

std::size_t write_request_id(char* out, std::uint64_t a, std::uint64_t b) noexcept {
  static constexpr char hex[] = "0123456789abcdef";
  unsigned char bytes[16];
  std::memcpy(bytes, &a, 8);
  std::memcpy(bytes + 8, &b, 8);
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char* p = out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = hex[bytes[i] >> 4];
    *p++ = hex[bytes[i] & 0xf];
  }
  return static_cast<std::size_t>(p - out);
}

}  // namespace gateway
