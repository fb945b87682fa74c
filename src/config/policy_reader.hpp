#pragma once
// Policies that attach filters (Envoy Gateway's SecurityPolicy and
// BackendTrafficPolicy, and this project's Filter kind), and Secrets they
// take credentials from.
#include <gateway/filter.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/manifests.hpp"

namespace gateway::manifests {

inline constexpr std::string_view envoy_gateway_api = "gateway.envoyproxy.io/v1alpha1";
inline constexpr std::string_view envoy_gateway_group = "gateway.envoyproxy.io";
inline constexpr std::string_view project_group = "gateway.dev";
inline constexpr std::string_view project_api = "gateway.dev/v1alpha1";

// A policy's target: a Gateway (optionally one listener) or an HTTPRoute
// (optionally one rule, by name), in the policy's namespace.
struct target_ref {
  std::string kind, name, section;
};

// What a BackendTrafficPolicy says about upstreams. The cluster-level part
// makes the Services of the routes it applies to clusters of their own
// (one per Service port and policy), as Envoy Gateway makes one per route.
struct upstream_settings {
  bool cluster = false;  // any field below `retry` was set
  load_balancer_config load_balancer;
  health_check_config health_check;
  outlier_detection_config outlier_detection;
  circuit_breaker_config circuit_breakers;
  dns_config dns;
  std::optional<std::chrono::milliseconds> connect_timeout, idle_timeout;
  std::uint32_t max_requests_per_connection = 0;
  std::optional<std::size_t> max_response_head, max_response_header_count;  // headers (ours)
  std::optional<std::size_t> buffer_limit;                   // connection.bufferLimit
  std::optional<std::size_t> max_idle_per_endpoint;          // connection.maxIdlePerEndpoint (ours)
  std::optional<std::uint64_t> max_response_body;            // responseBody.maxSize (ours)
  std::optional<retry_policy> retry;                         // for the rule, unless it has its own
  std::optional<std::chrono::milliseconds> request_timeout;  // for the rule, unless it has one
  std::optional<std::vector<std::string>> upgrades;          // httpUpgrade, for the rule
  std::optional<std::chrono::milliseconds> max_stream_duration;  // for the rule
  // Writes the cluster-level settings into `c`.
  void apply(cluster_config& c) const;
};

// What a ClientTrafficPolicy says about TLS (for HTTPS listeners) and about
// forwarding client certificates. The CA references are resolved by the loader.
struct client_tls_settings {
  std::optional<listener_tls_config> tls;  // certificates left empty
  std::vector<object_ref> ca_refs;         // tls.clientValidation.caCertificateRefs
  YAML::Node node;                         // spec.tls, for messages
  std::optional<client_cert_forwarding> forward_client_cert;
};

// What a ClientTrafficPolicy says about a listener's limits: only what it
// sets, over the listener's defaults (which differ for TCP listeners).
struct client_limit_settings {
  std::optional<std::size_t> max_connections;                     // connection.connectionLimit
  std::optional<std::chrono::milliseconds> close_delay;           // ... closeDelay
  std::optional<std::size_t> buffer_limit;                        // connection.bufferLimit
  std::optional<std::size_t> max_request_head, max_header_count;  // headers (ours)
  std::optional<std::chrono::milliseconds> header_timeout;        // timeout.http (ours)
  std::optional<std::chrono::milliseconds> idle_timeout, stream_idle_timeout;  // timeout.http
  std::optional<std::chrono::milliseconds> request_received_timeout;           // timeout.http
  std::optional<std::chrono::milliseconds> tcp_idle_timeout;                   // timeout.tcp
  // Writes what is set into `limits` of a listener carrying `protocol`.
  void apply(listener_limits& limits, listener_protocol protocol) const;
};

struct policy_doc {
  std::string
      kind;  // SecurityPolicy, BackendTrafficPolicy, ClientTrafficPolicy, WafPolicy or Filter
  meta m;
  std::string label;
  std::vector<target_ref> targets;  // empty for a Filter used only by ExtensionRef
  YAML::Node spec;
  std::vector<filter_ref> filters;  // built at resolution, in chain order
  // ClientTrafficPolicy clientIPDetection.xForwardedFor.numTrustedHops.
  std::optional<std::uint32_t> xff_trusted_hops;
  // ClientTrafficPolicy tls and headers.xForwardedClientCert.
  client_tls_settings client_tls;
  // ClientTrafficPolicy http2 (defaults for what is not set).
  std::optional<listener_http2_config> http2;
  std::optional<tracing_config> tracing;
  // ClientTrafficPolicy headers.withUnderscoresAction and path (defaults for what is not set).
  std::optional<request_normalization> normalization;
  // ClientTrafficPolicy connection, timeout and headers limits.
  client_limit_settings limits;
  // BackendTrafficPolicy loadBalancer, healthCheck, circuitBreaker, retry, timeout.
  std::optional<upstream_settings> upstream;
};

using secret_data = std::map<std::string, std::string>;  // key -> decoded value
// Finds a Secret's data by namespace and name, or null.
using secret_lookup = std::function<const secret_data*(const std::string&, const std::string&)>;

// A Service port's endpoints as "IP:port" for a policy that talks to it (a
// remote JWKS), or why there are none.
using backend_lookup = std::function<std::vector<std::string>(
    const std::string& ns, const std::string& name, std::uint16_t port, std::string& error)>;

// Reads a policy document's targets (the spec is read by build_policy_filters).
// With `service_targets` (a client's config) a BackendTrafficPolicy targets
// Services instead: the calls to them.
policy_doc read_policy(yaml_config::document_reader& doc, const YAML::Node& d, meta m,
                       std::string kind, bool service_targets = false);
// Reads a v1 Secret's data (base64) and stringData.
secret_data read_secret(yaml_config::document_reader& doc, const YAML::Node& d);
// A Gateway API BackendTLSPolicy, as read: which Service ports it covers and
// where its certificates are (resolved when a cluster for the Service is made).
struct backend_tls_doc {
  meta m;
  std::string label;
  struct target {
    std::string group, kind, name, section;
  };
  std::vector<target> targets;
  upstream_tls_config tls;  // without the PEM data yet
  struct pem_ref {
    std::string kind, name;  // ConfigMap or Secret in the policy's namespace
    YAML::Node node;
    std::string path;
  };
  std::vector<pem_ref> ca_refs;
  std::optional<pem_ref> client_certificate;  // a kubernetes.io/tls Secret
};
// Reads a BackendTLSPolicy (gateway.networking.k8s.io v1alpha3 or v1).
backend_tls_doc read_backend_tls(yaml_config::document_reader& doc, const YAML::Node& d, meta m);
// Reads a v1 ConfigMap's data.
secret_data read_config_map(yaml_config::document_reader& doc, const YAML::Node& d);

// Reads a BackendTrafficPolicy's upstream fields; nothing when it has none.
std::optional<upstream_settings> read_upstream_settings(yaml_config::document_reader& doc,
                                                        const YAML::Node& spec);
// Builds the filters of `p` through `registry`; problems go to `doc`.
void build_policy_filters(yaml_config::document_reader& doc, policy_doc& p,
                          const filter_registry& registry, const secret_lookup& secrets,
                          const backend_lookup& backends);

}  // namespace gateway::manifests
