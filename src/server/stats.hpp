#pragma once
// Request statistics: each worker counts into its own plain array (no atomics,
// no sharing); a scrape asks every worker for a copy on its own thread and
// sums them. Series (listener, route, backend) have ids that a reload never
// reuses, so counters stay monotonic across config changes.
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gateway {

// Upper bounds of the latency histogram, in microseconds (+Inf is implied).
inline constexpr std::array<std::uint64_t, 14> latency_bounds_us = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

struct series_stats {
  std::array<std::uint64_t, 6> requests{};  // by status class: [0] no response, [1] 1xx ... [5] 5xx
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::array<std::uint64_t, latency_bounds_us.size() + 1> latency{};  // per bucket, last is +Inf
  std::uint64_t latency_sum_us = 0;
  std::array<std::uint64_t, 17> grpc{};  // gRPC requests by the grpc-status they got (0..16)
  std::uint64_t connections = 0;         // connections carried whole (TCPRoute, TLSRoute)

  // A connection of a connection route ended, having moved these bytes.
  void record_connection(std::uint64_t in, std::uint64_t out) noexcept {
    ++connections;
    bytes_in += in;
    bytes_out += out;
  }

  // `grpc_status`: the gRPC request's grpc-status, -1 when not gRPC or none came.
  void record(int status, std::uint64_t in, std::uint64_t out, std::uint64_t micros,
              int grpc_status = -1) noexcept {
    ++requests[status >= 100 && status < 600 ? status / 100 : 0];
    if (grpc_status >= 0) ++grpc[grpc_status < 17 ? static_cast<std::size_t>(grpc_status) : 2];
    bytes_in += in;
    bytes_out += out;
    std::size_t b = 0;
    while (b < latency_bounds_us.size() && micros > latency_bounds_us[b])
      ++b;
    ++latency[b];
    latency_sum_us += micros;
  }
  void add(const series_stats& o) noexcept {
    for (std::size_t i = 0; i < requests.size(); ++i)
      requests[i] += o.requests[i];
    for (std::size_t i = 0; i < latency.size(); ++i)
      latency[i] += o.latency[i];
    for (std::size_t i = 0; i < grpc.size(); ++i)
      grpc[i] += o.grpc[i];
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    connections += o.connections;
    latency_sum_us += o.latency_sum_us;
  }
};

// Labels of a series.
struct series_labels {
  std::string listener, route, backend;
};

// Gives (listener, route, backend) series their ids; owned by the server,
// used on the control plane only.
class series_registry {
 public:
  std::uint32_t id(const std::string& listener, const std::string& route,
                   const std::string& backend) {
    auto [it, added] = ids_.emplace(listener + '\x1f' + route + '\x1f' + backend,
                                    static_cast<std::uint32_t>(labels_.size()));
    if (added) labels_.push_back({listener, route, backend});
    return it->second;
  }
  const std::vector<series_labels>& labels() const noexcept { return labels_; }

 private:
  std::map<std::string, std::uint32_t> ids_;
  std::vector<series_labels> labels_;
};

// What one worker reports when scraped.
// A worker's TLS handshakes on HTTPS listeners (its own thread only).
struct handshake_counters {
  std::uint64_t ok = 0, resumed = 0, failed = 0, timed_out = 0;
  std::uint64_t refused = 0;  // closed unhandshaken: too many handshakes in progress
};

// Requests by protocol: from clients (HTTP/1.0, HTTP/1.1, HTTP/2), and tries
// sent to upstreams (HTTP/1.1, HTTP/2).
struct protocol_counters {
  std::array<std::uint64_t, 3> downstream{};
  std::array<std::uint64_t, 2> upstream{};
  void add(const protocol_counters& o) noexcept {
    for (std::size_t i = 0; i < downstream.size(); ++i)
      downstream[i] += o.downstream[i];
    for (std::size_t i = 0; i < upstream.size(); ++i)
      upstream[i] += o.upstream[i];
  }
};

// The limits a worker enforces, for gateway_limit_hits_total{limit}: each
// time one refused a connection, a request or a stream, or cut one off.
enum class limit_kind : std::uint8_t {
  listener_connections,  // a listener's connectionLimit: connection closed at accept
  worker_connections,    // a worker's connection cap: connection closed at accept
  worker_streams,        // a worker's cap on requests in progress: 503 or REFUSED_STREAM
  connection_streams,    // an HTTP/2 client opened more than maxConcurrentStreams
  request_line,          // 414
  request_headers,       // 431: head size or header count (HTTP/1.1 and HTTP/2)
  request_body,          // 413
  header_timeout,        // a head not complete in time: 408
  request_timeout,       // a request (head and body) not received in time: 408
  send_timeout,          // a client that stopped reading for the stream idle timeout
  response_headers,      // an upstream's response head over its cluster's limits: 502
  response_body,         // an upstream's response body over its cluster's limit: 502 or cut
  overload_connections,  // the overload manager saturated: connection closed at accept
  overload_requests,     // the overload manager shedding: 503 or REFUSED_STREAM
  count
};
inline constexpr std::array<const char*, static_cast<std::size_t>(limit_kind::count)> limit_names =
    {"listener_connections", "worker_connections", "worker_streams",   "connection_streams",
     "request_line",         "request_headers",    "request_body",     "header_timeout",
     "request_timeout",      "send_timeout",       "response_headers", "response_body",
     "overload_connections", "overload_requests"};

struct limit_counters {
  std::array<std::uint64_t, static_cast<std::size_t>(limit_kind::count)> hits{};
  void hit(limit_kind k) noexcept { ++hits[static_cast<std::size_t>(k)]; }
  void add(const limit_counters& o) noexcept {
    for (std::size_t i = 0; i < hits.size(); ++i)
      hits[i] += o.hits[i];
  }
};

// Capacity of the buffers a worker's sessions hold, for gateway_buffer_bytes{side}:
// their clients' (head, body and HTTP/2 stream queues) and their upstream links'.
struct buffer_bytes {
  std::uint64_t client = 0, upstream = 0;
};

struct worker_report {
  std::vector<series_stats> series;
  std::size_t upstream_active = 0;  // upstream connections carrying a request
  std::size_t upstream_idle = 0;    // pooled keep-alive connections
  std::uint64_t mirrors_sent = 0, mirrors_failed = 0, mirrors_skipped = 0;
  handshake_counters handshakes;
  protocol_counters protocols;
  limit_counters limits;
  std::size_t streams = 0;  // requests in progress (HTTP/1.1 requests, HTTP/2 streams)
  buffer_bytes buffers;     // held by its sessions when it reported
  std::uint64_t spans_recorded = 0, spans_dropped = 0;  // traced requests' spans
};

}  // namespace gateway
