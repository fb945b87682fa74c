#pragma once
#include <gateway/export.hpp>
#include <gateway/router.hpp>
#include <gateway/upstream.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace gateway {

// Per-listener limits and timeouts on the client side of the proxy.
struct listener_limits {
  std::size_t max_request_line = 8 * 1024;               // longer request line or URI: 414
  std::size_t max_request_head = 64 * 1024;              // longer head (line + headers): 431
  std::size_t max_header_count = 100;                    // more header fields: 431
  std::uint64_t max_request_body = 0;                    // 0: unlimited; larger body: 413
  std::chrono::milliseconds header_timeout{10000};       // head not complete in time: 408
  std::chrono::milliseconds idle_timeout{60000};         // keep-alive wait for the next request
  std::chrono::milliseconds request_timeout{15000};      // no upstream response head in time: 504
  std::chrono::milliseconds stream_idle_timeout{60000};  // body transfer stalled: close
  // The whole request (head and body, from its first byte) not received in
  // time: 408 and close, unless its response has started (an upstream that
  // answers early streams on). 0: none, as Envoy and nginx, since an upload
  // over a slow link is legitimate; the stream idle timeout still bounds
  // each wait for more of it.
  std::chrono::milliseconds request_received_timeout{0};
  // What a client's connection buffers beyond its request head: request body
  // read ahead of the upstream at a time, and on HTTP/2, per stream, request
  // body held for the upstream and response queued for a client slower than
  // the upstream, before the faster side waits (ClientTrafficPolicy
  // connection.bufferLimit). 1 KiB to 1 GiB.
  std::size_t buffer_limit = 64 * 1024;
  // Client connections open at once on this listener's address and port, all
  // workers together (listeners sharing a port share the smallest limit set
  // on any of them); 0: unlimited. Past it a new connection is closed as it
  // is accepted, after `connection_close_delay` (which slows a client that
  // retries at once, at the cost of holding its descriptor meanwhile).
  std::size_t max_connections = 0;
  std::chrono::milliseconds connection_close_delay{0};
};

// A certificate and its private key for a TLS listener. PEM text, or files
// read when the config is loaded (and watched: a change reloads it).
struct tls_certificate {
  std::string source;    // where it came from, for messages ("Secret default/example")
  std::string cert_pem;  // the leaf first, then its chain
  std::string key_pem;
  std::string cert_file, key_file;  // used when the PEM fields are empty
  std::string ocsp_der;             // an OCSP response to staple (DER), optional
  std::string ocsp_file;            // or a file holding it
};

// Client certificate verification (mTLS) on a TLS listener.
struct tls_client_validation {
  std::string ca_pem;  // the CAs a client certificate must chain to
  bool optional =
      false;  // true: a client may come without a certificate (one it sends must verify)
  // Further pins (any one matching admits): SHA-256 of the certificate (hex)
  // or of its public key (SPKI, base64).
  std::vector<std::string> certificate_hashes;
  std::vector<std::string> spki_hashes;
};

// What an HTTPS listener terminates TLS with.
struct listener_tls_config {
  // Chosen by SNI against each certificate's DNS names (exact, then wildcard),
  // among those of the key types the client supports; the first is the
  // default. An RSA and an ECDSA certificate for the same names go side by side.
  std::vector<tls_certificate> certificates;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string max_version = "1.3";
  // Cipher suites: TLS 1.2 names ("ECDHE-ECDSA-AES128-GCM-SHA256") and TLS 1.3
  // ones ("TLS_AES_128_GCM_SHA256"); empty: AEAD suites with forward secrecy.
  std::vector<std::string> ciphers;
  std::vector<std::string> groups;  // key exchange ("X25519", "P-256"); empty: defaults
  std::vector<std::string> signature_algorithms;       // empty: OpenSSL's defaults
  std::vector<std::string> alpn = {"h2", "http/1.1"};  // offered protocols, most preferred first
  bool session_tickets = true;                         // stateless resumption
  bool session_cache = true;                           // stateful resumption (session IDs)
  std::chrono::seconds session_timeout{3600};
  std::optional<tls_client_validation> client_validation;  // empty: no client certificates
  // A handshake not done in this time is dropped (the connection closed).
  std::chrono::milliseconds handshake_timeout{10000};
  // Handshakes one worker runs at once; connections beyond are closed at
  // once (a flood of slow handshakes cannot hold a worker's memory).
  std::size_t max_pending_handshakes = 4096;
};

// What the upstream learns of a client certificate: Envoy's
// forward_client_cert_details as an X-Forwarded-Client-Cert field.
struct client_cert_forwarding {
  enum class mode : std::uint8_t {
    sanitize,            // remove the field the client sent (the default)
    forward_only,        // pass the client's field on mTLS connections only
    append_forward,      // on mTLS connections, append this client's element
    sanitize_set,        // on mTLS connections, replace it with this client's element
    always_forward_only  // always pass the client's field as it came
  } how = mode::sanitize;
  // What the element holds besides Hash (the certificate's SHA-256).
  bool subject = false, cert = false, chain = false, dns = false, uri = false;
};

// How a request's head is made unambiguous before anything reads it: Envoy
// Gateway's ClientTrafficPolicy `headers.withUnderscoresAction` and `path`
// settings, with their defaults. The path is always decoded where RFC 3986
// §6.2.2 allows (unreserved characters; the hex of other escapes in upper
// case) and freed of dot segments (§5.2.4); these choose the rest.
struct request_normalization {
  // A header field whose name has an underscore ("Content_Length"), which
  // some servers read as a dash.
  enum class underscores : std::uint8_t {
    allow,           // passed on
    reject_request,  // 400 (the default)
    drop_header      // removed before filters, WAF and upstream see it
  } with_underscores = underscores::reject_request;
  // %2F and %5C (escaped '/' and '\') in the path.
  enum class escaped_slashes : std::uint8_t {
    keep_unchanged,         // left escaped: one segment for the router
    reject_request,         // 400
    unescape_and_redirect,  // a 307 to the unescaped, normalised path (the default)
    unescape_and_forward    // unescaped, then routed and forwarded
  } escaped_slashes_action = escaped_slashes::unescape_and_redirect;
  bool merge_slashes = true;  // "//" becomes "/" (disableMergeSlashes: false)
};

// What a listener announces to HTTP/2 clients (ClientTrafficPolicy http2).
// Windows bound what a client may send ahead of the upstream taking it.
struct listener_http2_config {
  std::uint32_t max_concurrent_streams = 100;         // 1 to 2^31-1
  std::uint32_t initial_stream_window = 65535;        // bytes per stream, 65535 to 2^31-1
  std::uint32_t initial_connection_window = 1 << 20;  // bytes per connection, 65535 to 2^31-1
  bool operator==(const listener_http2_config&) const = default;
};

// What a listener carries.
enum class listener_protocol : std::uint8_t {
  http,  // HTTP requests (HTTPS when `tls` is set), routed by HTTPRoutes and GRPCRoutes
  // Connections: each one's bytes go both ways to one backend of a TCPRoute
  // or TLSRoute, unread. With `tls` set the gateway terminates TLS first (a
  // TLSRoute's hostnames then match the SNI); without, a TCPRoute serves it.
  tcp,
  // TLS passed through untouched: the SNI of the client's ClientHello picks
  // the TLSRoute; the backend terminates TLS itself. `tls` stays empty.
  tls_passthrough,
};

// Distributed tracing of a listener's requests (OpenTelemetry): the W3C
// trace context is read from each request (a new trace is started when it has
// none), a server span per request and a client span per upstream try are
// recorded, the upstream is sent the try's context, and spans go in batches
// over OTLP/HTTP (JSON) to a collector, from a thread of their own.
struct tracing_config {
  // The share of new traces sampled: numerator / denominator. A request that
  // arrives with a traceparent follows its sampled flag instead.
  std::uint32_t sampling_numerator = 1;
  std::uint32_t sampling_denominator = 1;
  // Where spans go: "http://HOST:PORT/v1/traces" (https: verified against
  // the system store); HOST an address or a name the system resolves.
  std::string collector;
  std::string service_name = "gateway";            // the spans' resource service.name
  std::chrono::milliseconds flush_interval{1000};  // how often a batch goes
  // Span data a worker holds between batches; spans past it are dropped (and
  // counted), never waited for.
  std::size_t max_queued_bytes = 4 << 20;
  bool operator==(const tracing_config&) const = default;
};

// One listener: where it binds, what Gateway API logic sees, and its routes.
struct listener_config {
  std::string name;  // "namespace/gateway/listener" when loaded from YAML
  std::string bind_address = "0.0.0.0";
  std::uint16_t bind_port = 0;  // 0: an ephemeral port (see server::port)
  std::uint16_t port = 0;       // the port Gateway API logic sees
  std::string hostname;         // listener hostname ("" or "*.x" or exact)
  listener_protocol protocol = listener_protocol::http;
  std::vector<route> routes;  // routes attached to this listener (kinds its protocol carries)
  listener_limits limits;
  // Filters every routed request of this listener runs first (gateway-level).
  std::vector<filter_ref> filters;
  // With proxies in front: the client is the address this many entries from
  // the right of X-Forwarded-For (the one the outermost trusted proxy added),
  // for filters and the access log; 0 trusts none (the socket peer).
  std::uint32_t xff_trusted_hops = 0;
  std::optional<listener_tls_config> tls;  // set: HTTPS (TLS terminated here)
  client_cert_forwarding forward_client_cert;
  request_normalization normalization;
  listener_http2_config http2;
  std::optional<tracing_config> tracing;  // empty: requests are not traced
};

// One Gateway API status condition ("Accepted", "ResolvedRefs"), as the
// loader computes it; Kubernetes would write it into the route's status.
struct status_condition {
  std::string type;
  bool status = true;
  std::string reason;  // "Accepted", "BackendNotFound", "RefNotPermitted", ...
  std::string message;
};

// The status of one route towards one of its parents.
struct route_status {
  std::string kind;    // "HTTPRoute"
  std::string route;   // "namespace/name"
  std::string parent;  // "namespace/gateway", plus "/section" when the parentRef names one
  std::vector<status_condition> conditions;
};

// The whole configuration one snapshot is built from.
struct gateway_config {
  std::vector<listener_config> listeners;
  std::vector<cluster_config> clusters;
  std::vector<std::string> warnings;   // things the loader accepted but that have no effect
  std::vector<route_status> statuses;  // filled by the YAML loader; informational
};

// Where a configuration problem was found, for messages a user can act on.
struct config_issue {
  std::string document;  // "document 2 (HTTPRoute default/api)"
  std::string path;      // field path, "spec.rules[0].matches[1].path.type"
  int line = 0;          // 1-based line in the source text, 0 if unknown
  std::string message;
  // "file:line: document: path: message", as gatewayd --check prints it.
  std::string to_string(std::string_view source_name) const;
};

// Parses Kubernetes YAML (Gateway, HTTPRoute, Service, EndpointSlice, ...) into a
// config. Throws gateway::error (invalid_config) listing every issue found.
// Listeners that would share an address and port are judged later, on the
// final addresses (after apply_bind_mappings), by validate() and the server.
GATEWAY_API gateway_config load_yaml(std::string_view yaml_text,
                                     std::string_view source_name = "<config>");
// Same, reading the file at `path`.
GATEWAY_API gateway_config load_yaml_file(const std::string& path);
// Non-throwing form: on error `ec` is set and `issues` lists every problem.
GATEWAY_API gateway_config load_yaml(std::string_view yaml_text, std::string_view source_name,
                                     std::error_code& ec, std::vector<config_issue>& issues);
// The same three, with the filters of `filters` (the host's own besides the
// built-ins) available to Filter objects; the others use filter_registry::builtin().
GATEWAY_API gateway_config load_yaml(std::string_view yaml_text, std::string_view source_name,
                                     const filter_registry& filters);
GATEWAY_API gateway_config load_yaml_file(const std::string& path, const filter_registry& filters);
GATEWAY_API gateway_config load_yaml(std::string_view yaml_text, std::string_view source_name,
                                     const filter_registry& filters, std::error_code& ec,
                                     std::vector<config_issue>& issues);

// Where the listeners of one Gateway port really bind: routing and redirects
// keep seeing `port`, the socket binds `bind_address`:`bind_port`.
struct bind_mapping {
  std::string gateway;  // "namespace/name", or "" when only one Gateway uses `port`
  std::uint16_t port = 0;
  std::string bind_address;
  std::uint16_t bind_port = 0;  // 0: an ephemeral port
};

// Parses "[NAMESPACE/GATEWAY:]PORT=ADDRESS:PORT" (gatewayd --bind); IPv6 as
// "[::1]:8080". Throws gateway::error (invalid_config).
GATEWAY_API bind_mapping parse_bind_mapping(std::string_view spec);
// Rebinds the listeners each mapping names. A mapping that matches no
// listener, or a short form that matches several Gateways, throws
// gateway::error (invalid_config): nothing is applied silently halfway.
GATEWAY_API void apply_bind_mappings(gateway_config& config,
                                     const std::vector<bind_mapping>& mappings);

// The config as JSON (field names as in these structs), for dumps and /config.
GATEWAY_API std::string to_json(const gateway_config& config);

// Checks a config built in code (names unique, clusters referenced exist,
// endpoints valid, regexes compile). Throws gateway::error (invalid_config).
GATEWAY_API void validate(const gateway_config& config);

// Strict mode, for tests and fixtures: a config that loaded with warnings (a
// backend reference that does not resolve and would answer 500, a policy that
// targets nothing, an annotation without effect, ...) is refused. Throws
// gateway::error (invalid_config) listing every warning; does nothing without.
GATEWAY_API void require_no_warnings(const gateway_config& config);

}  // namespace gateway
