#pragma once
// Request statistics: each worker counts into its own plain array (no atomics,
// no sharing); a scrape asks every worker for a copy on its own thread and
// sums them. Series (listener, route, backend) have ids that a reload never
// reuses, so counters stay monotonic across config changes.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/metrics.hpp"

namespace gateway {

// One stats series' counters: the `series` families of core/metrics.hpp,
// a slot per label value (and per histogram bucket).
struct series_stats {
  std::array<std::uint64_t, metrics::slots_of(metrics::series)> v{};

  static constexpr std::size_t requests_at = metrics::slot("gateway_requests_total", "none");
  static constexpr std::size_t grpc_at = metrics::slot("gateway_grpc_requests_total", "OK");
  static constexpr std::size_t latency_at = metrics::first_slot("gateway_request_duration_seconds");
  static constexpr std::size_t latency_sum_at = latency_at + metrics::latency_bounds_us.size() + 1;
  static constexpr std::size_t connections_at = metrics::slot("gateway_tcp_connections_total");
  static constexpr std::size_t bytes_in_at = metrics::slot("gateway_request_bytes_total");
  static constexpr std::size_t bytes_out_at = metrics::slot("gateway_response_bytes_total");

  // A connection of a connection route ended, having moved these bytes.
  void record_connection(std::uint64_t in, std::uint64_t out) noexcept {
    ++v[connections_at];
    v[bytes_in_at] += in;
    v[bytes_out_at] += out;
  }

  // `grpc_status`: the gRPC request's grpc-status, -1 when not gRPC or none came.
  void record(int status, std::uint64_t in, std::uint64_t out, std::uint64_t micros,
              int grpc_status = -1) noexcept {
    ++v[requests_at + (status >= 100 && status < 600 ? status / 100 : 0)];
    if (grpc_status >= 0) ++v[grpc_at + (grpc_status < 17 ? grpc_status : 2)];
    v[bytes_in_at] += in;
    v[bytes_out_at] += out;
    std::size_t b = 0;
    while (b < metrics::latency_bounds_us.size() && micros > metrics::latency_bounds_us[b])
      ++b;
    ++v[latency_at + b];
    v[latency_sum_at] += micros;
  }
  void add(const series_stats& o) noexcept {
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] += o.v[i];
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

// The limits a worker enforces, for gateway_limit_hits_total{limit}: each
// time one refused a connection, a request or a stream, or cut one off. Each
// value is its slot in metrics::block, so the table checks the names.
enum class limit_kind : std::size_t {
#define GATEWAY_LIMIT(name) name = metrics::slot("gateway_limit_hits_total", #name)
  GATEWAY_LIMIT(listener_connections),  // a listener's connectionLimit: closed at accept
  GATEWAY_LIMIT(worker_connections),    // a worker's connection cap: closed at accept
  GATEWAY_LIMIT(worker_streams),  // a worker's cap on requests in progress: 503 or REFUSED_STREAM
  GATEWAY_LIMIT(connection_streams),  // an HTTP/2 client opened more than maxConcurrentStreams
  GATEWAY_LIMIT(request_line),        // 414
  GATEWAY_LIMIT(request_headers),     // 431: head size or header count (HTTP/1.1 and HTTP/2)
  GATEWAY_LIMIT(request_body),        // 413
  GATEWAY_LIMIT(header_timeout),      // a head not complete in time: 408
  GATEWAY_LIMIT(request_timeout),     // a request (head and body) not received in time: 408
  GATEWAY_LIMIT(send_timeout),        // a client that stopped reading for the stream idle timeout
  GATEWAY_LIMIT(response_headers),    // an upstream's response head over its cluster's limits: 502
  GATEWAY_LIMIT(response_body),       // an upstream's response body over its cluster's limit
  GATEWAY_LIMIT(overload_connections),  // the overload manager saturated: closed at accept
  GATEWAY_LIMIT(overload_requests),     // the overload manager shedding: 503 or REFUSED_STREAM
#undef GATEWAY_LIMIT
};

// The limit's name, as the metric's label shows it.
inline std::string_view limit_name(limit_kind k) noexcept {
  static constexpr std::size_t first = metrics::first_slot("gateway_limit_hits_total");
  return metrics::label_value(metrics::find("gateway_limit_hits_total"),
                              static_cast<std::size_t>(k) - first);
}

// Capacity of the buffers a worker's sessions hold, for gateway_buffer_bytes{side}:
// their clients' (head, body and HTTP/2 stream queues) and their upstream links'.
struct buffer_bytes {
  std::uint64_t client = 0, upstream = 0, pooled = 0;
};

// What one worker reports when scraped: its series, and its fixed counters
// with its gauges set.
struct worker_report {
  std::vector<series_stats> series;
  metrics::block counters;
  std::vector<std::uint64_t> filter_counts;  // by filter_counter id
};

}  // namespace gateway
