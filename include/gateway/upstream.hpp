#pragma once
#include <gateway/export.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gateway {

// One upstream address. `address` is a numeric IPv4 or IPv6 address, or a
// DNS name: then every address it resolves to is an endpoint (with this port
// and weight), re-resolved as the cluster's `dns` settings say.
struct endpoint_config {
  std::string address;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;  // relative share under every policy; 0 is invalid
  bool operator==(const endpoint_config&) const = default;
};

// How a cluster spreads requests over its endpoints. Every policy skips
// unhealthy (active health check) and ejected (outlier detection) endpoints,
// unless fewer than `panic_threshold_percent` of them are usable: then all are
// used, as Envoy does, so that a partial outage does not overload the rest.
enum class lb_policy : std::uint8_t {
  round_robin,    // smooth weighted round robin (weights interleave)
  least_request,  // power of two choices on the worker's active requests, weighted
  random,         // weighted random
  ring_hash,      // consistent hashing on a ring (Ketama style)
  maglev,         // consistent hashing on a Maglev lookup table
};

// Where a consistent-hash policy takes its key from.
enum class hash_source : std::uint8_t { source_ip, header, cookie };

struct hash_policy {
  hash_source source = hash_source::source_ip;
  std::string name;  // the header or cookie name
  // A request without the cookie gets one (Set-Cookie on the response) when
  // this is > 0: its Max-Age, so the client sticks to one endpoint.
  std::chrono::seconds cookie_ttl{0};
  std::string cookie_path = "/";  // Path attribute of a generated cookie
  bool operator==(const hash_policy&) const = default;
};

struct load_balancer_config {
  lb_policy policy = lb_policy::round_robin;
  hash_policy hash;                  // ring_hash and maglev
  std::uint32_t table_size = 65537;  // maglev: lookup table size, a prime
  // ring_hash: points on the ring for an endpoint of the highest weight
  // (lighter ones get fewer). Fixed per endpoint, so that an endpoint leaving
  // moves only its own keys; 2^20 points in all at most.
  std::uint32_t ring_points = 1024;
  // Slow start (round_robin, least_request, random): an endpoint that joins
  // (added, or back from unhealthy or ejected) ramps its weight up linearly over
  // this window, from `slow_start_min_percent` of it. 0: off.
  std::chrono::milliseconds slow_start{0};
  std::uint32_t slow_start_min_percent = 10;
  std::uint32_t panic_threshold_percent = 50;  // 0: never panic
  bool operator==(const load_balancer_config&) const = default;
};

enum class health_check_type : std::uint8_t {
  none,
  http,
  tcp,
  grpc,  // grpc.health.v1.Health/Check over HTTP/2 (h2c, or h2 with the cluster's TLS)
};

// Active health checking: one probe loop per endpoint per process (not per
// worker); results reach the workers through atomics, without locks.
struct health_check_config {
  health_check_type type = health_check_type::none;
  std::chrono::milliseconds interval{3000};
  std::chrono::milliseconds jitter{0};  // up to this much added to each interval, at random
  std::chrono::milliseconds timeout{1000};
  std::uint32_t unhealthy_threshold = 3;  // consecutive failures to mark an endpoint down
  std::uint32_t healthy_threshold = 1;    // consecutive successes to mark it up again
  // HTTP probe.
  std::string path = "/";
  std::string method = "GET";
  std::string host;  // Host field; empty: the endpoint's address
  std::vector<std::pair<int, int>> expected_statuses{{200, 200}};  // inclusive ranges
  std::string expected_body;  // the response body must contain it (empty: not checked)
  // gRPC probe: the service asked about (empty: the server as a whole); the
  // endpoint is healthy when it answers SERVING.
  std::string grpc_service;
  // TCP probe: bytes sent after connecting, and bytes the answer must contain
  // (both empty: a successful connect is healthy).
  std::string send;
  std::string receive;
  bool operator==(const health_check_config&) const = default;
};

// Passive outlier detection (Envoy's consecutive-error detectors): an endpoint
// whose responses fail this many times in a row is ejected for
// base_ejection_time x (times ejected), up to max_ejection_time.
struct outlier_detection_config {
  std::uint32_t consecutive_5xx = 0;  // 0: off. Connect failures, resets and timeouts count too
  std::uint32_t consecutive_gateway_errors = 0;  // 502, 503, 504 and local failures; 0: off
  // With split_local_origin, connect failures, resets and timeouts count only
  // toward this one (and no longer toward the two above).
  bool split_local_origin = false;
  std::uint32_t consecutive_local_origin_failures = 5;
  std::chrono::milliseconds interval{3000};  // an ejection multiplier decays by one per interval
  std::chrono::milliseconds base_ejection_time{30000};
  std::chrono::milliseconds max_ejection_time{300000};
  std::uint32_t max_ejection_percent = 10;  // at least one endpoint may always be ejected
  bool enabled() const noexcept {
    return consecutive_5xx || consecutive_gateway_errors ||
           (split_local_origin && consecutive_local_origin_failures);
  }
  bool operator==(const outlier_detection_config&) const = default;
};

// Per-cluster limits, counted across all workers. A request over a limit gets
// 503 with `x-gateway-overflow: <limit>` at once, and a metric counts it.
struct circuit_breaker_config {
  std::uint32_t max_connections = 1024;       // open upstream connections
  std::uint32_t max_pending_requests = 1024;  // requests waiting for a connection
  std::uint32_t max_requests = 1024;          // requests in flight
  std::uint32_t max_retries = 1024;           // retries in flight
  // A retry is also refused when retries in flight would exceed this share
  // of the requests in flight (Envoy's retry budget); 0: no budget.
  std::uint32_t retry_budget_percent = 0;
  std::uint32_t retry_budget_min_concurrency = 3;  // retries always allowed up to this many
  std::uint32_t max_connections_per_endpoint = 0;  // 0: unlimited
  bool operator==(const circuit_breaker_config&) const = default;
};

// Which address families a DNS name's endpoints come from.
enum class dns_family : std::uint8_t {
  v4_and_v6,     // all A and AAAA records
  v4,            // A only
  v6,            // AAAA only
  v4_preferred,  // A, or AAAA when there is no A record
  v6_preferred,  // AAAA, or A when there is no AAAA record
};

// How the DNS names among a cluster's endpoints are resolved. Resolution runs
// on the upstream monitor's thread, never on a worker; a failed refresh keeps
// the addresses a name had.
struct dns_config {
  std::chrono::milliseconds refresh{30000};
  bool respect_ttl = true;  // refresh when the records expire (at least every second)
  dns_family family = dns_family::v4_and_v6;
  // Nameservers as "IP" or "IP:port" ("[IPv6]:port"); empty: /etc/resolv.conf's.
  std::vector<std::string> resolvers;
  std::string hosts_file = "/etc/hosts";    // looked at first; empty: not at all
  std::chrono::milliseconds timeout{2000};  // per query, per nameserver
  bool operator==(const dns_config&) const = default;
};

// TLS to a cluster's endpoints (OpenSSL). The peer's certificate is verified
// against `ca_pem` or the system store, and must name `verify_hostname` (or
// the SNI, or the endpoint's DNS name; an endpoint given by IP must carry that
// IP), unless `insecure_skip_verify`. Sessions are resumed across the pooled
// connections of a worker.
struct upstream_tls_config {
  bool enabled = false;
  std::string sni;              // server name sent; empty: the endpoint's DNS name, if any
  std::string verify_hostname;  // name the certificate must carry; empty: the SNI
  std::vector<std::string> subject_alt_names;  // other names accepted instead (DNS SANs)
  std::string ca_pem;                          // trusted CAs, PEM
  bool system_ca = false;                      // also trust the system store (/etc/ssl/certs)
  bool insecure_skip_verify = false;
  std::string client_cert_pem;      // mTLS: the gateway's certificate chain, PEM
  std::string client_key_pem;       // and its private key, PEM
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::vector<std::string> alpn{"http/1.1"};
  bool operator==(const upstream_tls_config&) const = default;
};

// The protocol a cluster's endpoints are spoken to in.
enum class upstream_protocol : std::uint8_t {
  http1,  // HTTP/1.1: one request at a time per connection, connections kept alive
  // HTTP/2: requests are streams multiplexed on one connection per endpoint
  // and worker (more when the endpoint's SETTINGS limit streams): with prior
  // knowledge (h2c) in plain text, by ALPN "h2" over TLS.
  http2,
};

// A named set of endpoints and how to talk to them. Keep-alive pools are per
// worker; health, ejections and circuit-breaker counts are per process.
struct cluster_config {
  std::string name;
  std::vector<endpoint_config> endpoints;
  std::chrono::milliseconds connect_timeout{2000};  // connect failure or timeout: 503
  std::chrono::milliseconds idle_timeout{60000};    // pooled connection unused this long: closed
  // Keep-alive connections kept per worker and endpoint. Large, so that a
  // burst's connections serve the next burst instead of being closed and
  // opened again (each a connect, a close and a TIME_WAIT); what bounds them
  // is idle_timeout and the circuit breaker's max_connections.
  std::size_t max_idle_per_endpoint = 1024;
  std::uint32_t max_requests_per_connection = 0;  // then the connection is retired; 0: no limit
  // An HTTP/1.1 response head longer than this (status line and fields), or
  // with more fields, is refused: 502, and the connection is not reused.
  std::size_t max_response_head = 64 * 1024;
  std::size_t max_response_header_count = 100;
  // What a request's upstream link buffers beyond the response head: response
  // body read ahead of the client at a time, and on HTTP/2 request body queued
  // for the upstream before the client waits (BackendTrafficPolicy
  // connection.bufferLimit). 1 KiB to 1 GiB.
  std::size_t buffer_limit = 64 * 1024;
  // A response body longer than this: 502 when its Content-Length says so
  // (or all of it came before anything was sent), else cut short (the client
  // connection closed, an HTTP/2 stream reset); 0: no limit, as Envoy's, since
  // a streamed body costs no memory (BackendTrafficPolicy responseBody.maxSize).
  std::uint64_t max_response_body = 0;
  load_balancer_config load_balancer;
  health_check_config health_check;
  outlier_detection_config outlier_detection;
  circuit_breaker_config circuit_breakers;
  dns_config dns;           // for endpoints given by name
  upstream_tls_config tls;  // with http2, "h2" is the ALPN offered
  upstream_protocol protocol = upstream_protocol::http1;
  // Equal definitions keep their pools (and pooled connections), health and
  // ejection state across a reload.
  bool operator==(const cluster_config&) const = default;
};

// Smooth weighted round robin (each endpoint gets its share, interleaved, as
// nginx does). Not thread-safe: each worker owns one per cluster.
class GATEWAY_API weighted_round_robin {
 public:
  // `weights` must be non-empty and positive.
  explicit weighted_round_robin(std::span<const std::uint32_t> weights);
  // Index of the next endpoint.
  std::size_t next() noexcept;
  // Number of endpoints it picks from.
  std::size_t size() const noexcept { return state_.size(); }

 private:
  struct slot {
    std::int64_t weight;
    std::int64_t current;
  };
  std::vector<slot> state_;
  std::int64_t total_ = 0;
};

// Consistent hashing over weighted endpoints, as the ring_hash and maglev
// policies use it: a key maps to the same endpoint while the endpoint set
// stays, and when one endpoint leaves only its keys move. Immutable once built.
class GATEWAY_API consistent_hash {
 public:
  // `names` identify the endpoints (the hash of a name places it); `weights`
  // is parallel to it, positive. `size` is the Maglev table size (a prime) or
  // the ring's points for the heaviest endpoint.
  consistent_hash(lb_policy kind, std::span<const std::string> names,
                  std::span<const std::uint32_t> weights, std::uint32_t size);
  // Index (into `names`) of the endpoint for `key_hash`.
  std::size_t pick(std::uint64_t key_hash) const noexcept;

 private:
  lb_policy kind_;
  std::vector<std::uint32_t> maglev_;                          // slot -> endpoint
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ring_;  // (point, endpoint), sorted
};

// The 64-bit hash the consistent-hash policies apply to keys and endpoint names.
GATEWAY_API std::uint64_t hash_key(std::string_view text) noexcept;

}  // namespace gateway
