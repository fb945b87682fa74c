#pragma once
// The Gateway API HTTPRoute filters that edit a request or answer it: header
// modifiers, path rewrites, redirects. Pure functions over views, so the
// proxy applies them while it writes a head, and tests check them alone.
#include <gateway/router.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "stream/owned_fields.hpp"

namespace re2 {
class RE2;
}

namespace gateway {

// What is wrong with the filters of `rule` (empty when they are valid): a
// redirect with a rewrite, prefix rewrites without a PathPrefix match, bad
// status codes, schemes or header fields.
std::vector<std::string> filter_problems(const route_rule& rule);
// What is wrong with a CORS policy (origins, method and header names); empty when fine.
std::vector<std::string> cors_problems(const cors_policy& cors);

// True when `m` removes or replaces the field `name` (case-insensitive).
bool replaces_field(const header_modifier& m, std::string_view name) noexcept;
// True if `m` writes a field `name` (set or add).
bool sets_field(const header_modifier& m, std::string_view name) noexcept;
// Appends the fields `m` sets and adds to `out`, as views of `m`.
void modifier_fields(const header_modifier& m, std::vector<http::header>& out);

// The path after replacing `prefix` (a PathPrefix that matched `path`) with
// `replacement`, following the Gateway API's slash rules ("/foo/bar" with
// prefix "/foo" and replacement "" is "/bar"; never empty).
void replace_prefix(std::string_view path, std::string_view prefix, std::string_view replacement,
                    std::string& out);

// The path a rewrite or redirect leads to; `matched_prefix` is the PathPrefix
// value that selected the rule (used by prefix_match), `regex` the compiled
// path match (used by the regex type; null otherwise).
void rewritten_path(const path_rewrite& rewrite, std::string_view path,
                    std::string_view matched_prefix, const re2::RE2* regex, std::string& out);

// What a redirect needs to know about the request.
struct redirect_context {
  std::string_view scheme;  // "http" or "https"
  std::string_view host;    // Host header value, may carry a port
  std::string_view path;    // normalized path
  std::string_view query;   // without '?'; kept in the Location when present
  bool has_query = false;
  std::uint16_t listener_port = 0;  // the Gateway API port of the listener
  std::string_view matched_prefix;
  const re2::RE2* regex = nullptr;  // the rule's path regex, for regex rewrites
};

// The Location a RequestRedirect answers with. Port rules as the spec has
// them: an explicit port wins; else a changed scheme brings its well-known
// port; else the listener's port. Port 80 for http and 443 for https are left out.
void redirect_location(const request_redirect& r, const redirect_context& rq, std::string& out);

// True when `origin` (an Origin header value) is one `policy` allows.
bool cors_allows(const cors_policy& policy, std::string_view origin) noexcept;
// Appends to `out` the CORS fields of an actual response for an allowed
// `origin`, as views of `policy`, `origin` and `scratch` (which holds the
// joined expose list; it must not change while `out` is used).
void cors_response_fields(const cors_policy& policy, std::string_view origin,
                          std::vector<http::header>& out, std::string& scratch);
// Adds to `out` the fields of the gateway's answer to a preflight from an
// allowed `origin` (with the request's Access-Control-Request-Method/-Headers).
void cors_preflight_fields(const cors_policy& policy, std::string_view origin,
                           std::string_view request_method, std::string_view request_headers,
                           owned_fields& out);

}  // namespace gateway
