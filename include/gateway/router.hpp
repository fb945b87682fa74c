#pragma once
#include <gateway/export.hpp>
#include <gateway/filter.hpp>
#include <gateway/http.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace gateway {

// How a rule's path is compared with the request path (Gateway API HTTPPathMatch).
enum class path_match_type {
  exact,   // the whole path, byte for byte
  prefix,  // element-wise prefix: "/foo" matches "/foo" and "/foo/bar", not "/foobar"
  regex,   // RE2 full match against the path
};

// A path condition of a route match.
struct path_match {
  path_match_type type = path_match_type::prefix;
  std::string value = "/";
};

// How a header or query value is compared (Gateway API HeaderMatchType).
enum class value_match_type { exact, regex };

// A header condition: the named header (case-insensitive name) must match `value`.
struct header_match {
  value_match_type type = value_match_type::exact;
  std::string name;
  std::string value;
};

// A query parameter condition: the named parameter (case-sensitive) must match `value`.
struct query_match {
  value_match_type type = value_match_type::exact;
  std::string name;
  std::string value;
};

// A gRPC method condition (Gateway API GRPCMethodMatch) on a request path of
// the form "/SERVICE/METHOD". An empty service or method matches any; with
// `regex`, each non-empty one is an RE2 pattern matched against its whole part.
struct grpc_method_match {
  value_match_type type = value_match_type::exact;
  std::string service;  // "helloworld.Greeter"
  std::string method;   // "SayHello"
};

// One HTTPRouteMatch (or GRPCRouteMatch): every condition in it must hold (AND).
struct route_match {
  path_match path;                    // not used when `grpc` is set
  std::optional<std::string> method;  // exact method, e.g. "GET"
  std::vector<header_match> headers;
  std::vector<query_match> query_params;
  std::optional<grpc_method_match> grpc;  // a GRPCRoute's method match (a gRPC route only)
};

// A weighted reference from a rule to a cluster (an upstream_pool cluster name).
struct backend_ref {
  std::string cluster;       // empty when the reference could not be resolved
  std::uint32_t weight = 1;  // 0 keeps the backend configured but sends it nothing
  // Why the reference is invalid ("Service default/x not found"); requests
  // that pick this backend get 500, the rule's other backends keep working.
  std::string invalid;
};

// A header name and value owned by the config.
struct header_value {
  std::string name;
  std::string value;
};

// Header edits (Gateway API HTTPHeaderFilter); names are case-insensitive.
// Applied in this order: remove, set (replaces every field of that name), add.
struct header_modifier {
  std::vector<header_value> set;
  std::vector<header_value> add;
  std::vector<std::string> remove;
  bool empty() const noexcept { return set.empty() && add.empty() && remove.empty(); }
};

// How a redirect or rewrite changes the path (Gateway API HTTPPathModifier).
enum class path_rewrite_type {
  none,          // keep the request's path
  full_path,     // replace the whole path with `value`
  prefix_match,  // replace the matched PathPrefix with `value` (only with a prefix match)
  regex,         // the whole path becomes `value`, with \1..\9 from the rule's one
                 // RegularExpression path match (ingress-nginx rewrite-target)
};

struct path_rewrite {
  path_rewrite_type type = path_rewrite_type::none;
  std::string value;
};

// RequestRedirect: the gateway answers with a Location built from the request.
struct request_redirect {
  std::string scheme;      // "" keeps the request's ("http" or "https")
  std::string hostname;    // "" keeps the request's host
  std::uint16_t port = 0;  // 0: the spec's default (scheme's well-known port, else listener's)
  path_rewrite path;
  int status_code = 302;  // 301, 302, 303, 307 or 308
};

// URLRewrite: what the upstream sees instead of the request's host and path.
struct url_rewrite {
  std::string hostname;  // "" keeps the Host
  path_rewrite path;
};

// RequestMirror: a copy of each selected request goes to `cluster`; its
// answer is discarded and it never delays or fails the request itself.
struct request_mirror {
  std::string cluster;
  std::uint32_t numerator = 1;    // share of requests mirrored:
  std::uint32_t denominator = 1;  // numerator / denominator (percent: n / 100)
};

// CORS (Gateway API HTTPCORSFilter): the gateway answers preflights of allowed
// origins itself and adds the CORS fields to their responses; requests from
// other origins pass without CORS fields.
struct cors_policy {
  std::vector<std::string> allow_origins;  // "https://a.example", "https://*.example.com", "*"
  std::vector<std::string> allow_methods;  // or {"*"}
  std::vector<std::string> allow_headers;  // or {"*"}
  std::vector<std::string> expose_headers;
  bool allow_credentials = false;
  std::chrono::seconds max_age{5};
};

// Retry (Gateway API HTTPRouteRetry, or Envoy Gateway's BackendTrafficPolicy
// retry): a try that ends in one of the `retry_on` conditions is repeated on
// another endpoint when one is usable (after `backoff`, doubling with jitter
// up to `max_backoff`), while the cluster's retry limits allow it and the
// request can be sent again: its body whole in the buffer (see buffer_limit),
// and a retriable method unless the upstream was never reached.
struct retry_policy {
  std::vector<int> codes;                        // retriable status codes (retry_on.status_codes)
  std::uint32_t attempts = 1;                    // retries after the first try
  std::chrono::milliseconds backoff{0};          // base interval; 0: 25 ms
  std::chrono::milliseconds max_backoff{0};      // 0: 10x the base
  std::chrono::milliseconds per_try_timeout{0};  // 0: the rule's backendRequest timeout
  struct conditions {
    bool connect_failure = true;  // connect refused or timed out
    bool reset = true;            // closed, reset or timed out before a response head
    bool server_error = false;    // any 5xx response (and the two above)
    bool gateway_error = false;   // 502, 503, 504 (and the two above)
    bool retriable_4xx = false;   // 409
    bool status_codes = true;     // `codes`
    bool operator==(const conditions&) const = default;
  } retry_on;
  // Methods retried once the request reached the upstream; empty: the
  // idempotent ones (RFC 9110: GET, HEAD, OPTIONS, TRACE, PUT, DELETE).
  std::vector<std::string> methods;
  // A request body up to this size is read whole before the first try so a
  // retry can send it again; larger ones stream and are not retried. 0: only
  // a body already whole in the connection's buffer is replayed.
  std::uint64_t buffer_limit = 0;
};

// One HTTPRouteRule: any of `matches` selects it (OR); traffic goes to `backends`.
struct route_rule {
  std::string name;                   // optional, for logs
  std::vector<route_match> matches;   // empty means one match of PathPrefix "/"
  std::vector<backend_ref> backends;  // empty or all weight 0: the gateway answers 500
  // timeouts.request: the wait for an answer once the request is sent, across
  // retries; 0: the listener's default.
  std::chrono::milliseconds request_timeout{0};
  // timeouts.backendRequest: the wait for one try's answer; 0: the request timeout.
  std::chrono::milliseconds backend_request_timeout{0};
  // Filters, in the fixed order the gateway applies them.
  header_modifier request_headers;           // RequestHeaderModifier
  header_modifier response_headers;          // ResponseHeaderModifier
  std::optional<request_redirect> redirect;  // answered by the gateway, no backend
  std::optional<url_rewrite> rewrite;        // URLRewrite
  std::vector<request_mirror> mirrors;       // RequestMirror
  std::optional<cors_policy> cors;           // CORS
  std::optional<retry_policy> retry;
  // Body limit for this rule (413 beyond it) instead of the listener's; 0 is unlimited.
  std::optional<std::uint64_t> max_request_body;
  // HTTP/1.1 Upgrade protocols the rule forwards (lower case, as the Upgrade
  // field names them; an HTTP/2 extended CONNECT counts as its :protocol). A
  // request asking for another is refused (403), but for h2c, which clients
  // offer in passing and which is served without it.
  std::vector<std::string> upgrades = {"websocket"};
  // The longest an upgraded connection (a WebSocket tunnel) stays open; 0: no limit.
  std::chrono::milliseconds max_stream_duration{0};
  // The rule's filter chain, run after the listener's (policies and
  // ExtensionRef filters when loaded from YAML).
  std::vector<filter_ref> filters;
  // HTTPRoute backendRefs[].filters: when backends carry filters of their
  // own, one variant per backend — this rule with that backend alone and its
  // filters applied after the rule's. The gateway picks a variant by the
  // backends' weights right after routing, and serves the request with it
  // (its retries stay on that backend, as Envoy's do on a weighted cluster).
  // Empty when no backend has filters (then the backend is picked later).
  std::vector<route_rule> backend_variants;
};

// Which Gateway API kind a route is: it decides how its matches read and the
// precedence among them. TCPRoutes and TLSRoutes carry connections, not
// requests: their rules have no matches (each is one match of any path) and
// only backends; a TLSRoute's hostnames are matched against the TLS SNI.
enum class route_kind : std::uint8_t { http, grpc, tcp, tls };
// The Gateway API kind's name ("HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute").
GATEWAY_API const char* route_kind_name(route_kind k) noexcept;

// One HTTPRoute or GRPCRoute: hostnames plus ordered rules. Precedence between
// routes follows the Gateway API: match specificity first (for gRPC: an exact
// service and method, then the most characters of service, then of method,
// then the most header matches), then `creation_order`, then
// "namespace/name" alphabetically, then rule order.
struct route {
  std::string namespace_name = "default";
  std::string name;
  // A gRPC route's rules without matches match every request to its hosts;
  // each of its matches needs `grpc` set.
  route_kind kind = route_kind::http;
  std::vector<std::string> hostnames;  // exact or "*.suffix"; empty matches any host
  // How far "*.suffix" reaches: Gateway API's wildcard covers any number of
  // labels before the suffix, an Ingress one exactly one (set for Ingresses).
  bool wildcard_one_label = false;
  std::vector<route_rule> rules;
  std::int64_t creation_order = 0;  // smaller is older
};

// What the router looks at in a request; all views are borrowed for the call.
struct request_view {
  std::string_view method;
  std::string_view host;   // Host header or authority, port allowed, any case
  std::string_view path;   // normalized path without the query
  std::string_view query;  // raw query without '?', may be empty
  std::span<const http::header> headers;
};

// The outcome of router::match; pointers borrow from the router and stay valid
// as long as it lives.
struct route_selection {
  const route* matched_route = nullptr;
  const route_rule* rule = nullptr;
  std::size_t rule_index = 0;   // index of `rule` in matched_route->rules
  std::size_t match_index = 0;  // which of the rule's matches held
  // False when no rule matched (the gateway answers 404).
  explicit operator bool() const noexcept { return rule != nullptr; }
};

// A compiled route table: built once per configuration, queried per request
// without allocation or locks. Usable on its own, without a server.
class GATEWAY_API router {
 public:
  // Compiles `routes`; throws gateway::error (invalid_config) on a bad regex or value.
  explicit router(std::vector<route> routes);
  // Same, reporting a bad table through `ec` and `message` instead of throwing.
  static std::unique_ptr<router> compile(std::vector<route> routes, std::error_code& ec,
                                         std::string& message);
  router(router&&) noexcept;
  router& operator=(router&&) noexcept;
  ~router();

  // The rule that serves `request`, following the Gateway API precedence.
  route_selection match(const request_view& request) const noexcept;

  // The routes as compiled (sorted by precedence between routes).
  std::span<const route> routes() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gateway
