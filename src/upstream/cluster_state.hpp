#pragma once
// What the workers of one process share about a cluster: each endpoint's
// health (active checks), ejection (outlier detection) and connection count,
// and the cluster's circuit-breaker counters. All of it is atomics read on the
// request path without locks; a mutex serializes only the rare ejection
// decision. A cluster whose definition survives a reload keeps its state.
//
// Workers notice changes through `generation`: a health flip, an ejection or a
// new endpoint list bumps it, and each worker rebuilds its load balancer the
// next time it picks (one atomic load per pick otherwise).
#include <gateway/upstream.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "asio/asio.hpp"
#include "tls/upstream_tls.hpp"

namespace gateway {

class logger;

// steady_clock time as nanoseconds, for atomics.
inline std::int64_t to_ticks(steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct endpoint_state {
  endpoint_state(tcp::endpoint where, std::uint32_t w, steady_clock::time_point joined_at);
  const tcp::endpoint address;
  const std::string name;  // "IP:port" (IPv6 in brackets): logs, metrics, hashing
  const std::uint32_t weight;
  bool from_dns = false;  // set before the endpoint is published, never after
  std::string hostname;   // the DNS name it came from (SNI, certificate check); may be empty

  std::atomic<bool> healthy{true};             // the active health check's verdict
  std::atomic<std::int64_t> ejected_until{0};  // ticks; 0 or past: not ejected
  // When it last became usable (joined, healthy again, back from ejection):
  // slow start ramps from here. 0: usable since the cluster began.
  std::atomic<std::int64_t> usable_since{0};
  std::atomic<std::uint32_t> consecutive_5xx{0};
  std::atomic<std::uint32_t> consecutive_gateway{0};
  std::atomic<std::uint32_t> consecutive_local{0};
  std::atomic<std::uint32_t> connections{0};  // open, all workers
  std::atomic<std::uint32_t> active{0};       // requests in flight, all workers (least_request)

  // Counters for the metrics.
  std::atomic<std::uint64_t> ejections{0};
  std::atomic<std::uint64_t> health_failures{0};  // failed probes
  // Guarded by cluster_state::ejection_mutex.
  std::uint32_t ejection_multiplier = 0;
  std::int64_t returned_at = 0;

  bool ejected(std::int64_t now) const noexcept {
    return ejected_until.load(std::memory_order_relaxed) > now;
  }
};

// How an exchange with an endpoint ended, for outlier detection.
enum class upstream_result : std::uint8_t {
  success,        // a response below 500
  server_error,   // 500, 501, 505... (a 5xx that is not a gateway error)
  gateway_error,  // 502, 503, 504 from the upstream
  local_failure,  // connect failure, reset or timeout (no response)
};

class cluster_state {
 public:
  explicit cluster_state(const cluster_config& config);

  const cluster_config& config() const noexcept { return config_; }
  // TLS to the endpoints, when the cluster has it (built with the snapshot).
  std::shared_ptr<const tls::client_context> tls;
  // The endpoints now (a copy, taken when a worker rebuilds, never per request).
  std::vector<std::shared_ptr<endpoint_state>> endpoints() const;
  // Replaces the endpoint list (DNS): endpoints that stay keep their state.
  void set_endpoints(std::vector<std::shared_ptr<endpoint_state>> next);
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  void bump() noexcept { generation_.fetch_add(1, std::memory_order_release); }

  // Passive outlier detection: records how an exchange with `ep` ended, and
  // ejects it when a detector's threshold is reached. Any thread.
  void report(endpoint_state& ep, upstream_result result, const logger& log);
  // The active health check's verdict changed (health checker thread).
  void set_healthy(endpoint_state& ep, bool healthy, steady_clock::time_point now);

  // Circuit-breaker counters, all workers.
  std::atomic<std::uint32_t> connections{0};
  std::atomic<std::uint32_t> pending{0};
  std::atomic<std::uint32_t> requests{0};
  std::atomic<std::uint32_t> retries{0};
  // Metrics.
  std::atomic<std::uint64_t> overflow_connections{0}, overflow_pending{0}, overflow_requests{0},
      overflow_retries{0}, retries_total{0}, retries_budget_refused{0};
  // Idle connections closed to make room for a request waiting at max_connections.
  std::atomic<std::uint64_t> idle_shed{0};

 private:
  void eject(endpoint_state& ep, std::int64_t now, const char* why, const logger& log);

  cluster_config config_;
  mutable std::mutex endpoints_mutex_;  // only around the list itself (rebuilds, DNS)
  std::vector<std::shared_ptr<endpoint_state>> endpoints_;
  std::atomic<std::uint64_t> generation_{1};
  std::mutex ejection_mutex_;
};

}  // namespace gateway
