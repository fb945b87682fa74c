#pragma once
#include <gateway/export.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gateway {

// One upstream address. `address` is a numeric IPv4 or IPv6 address.
struct endpoint_config {
  std::string address;
  std::uint16_t port = 0;
  std::uint32_t weight = 1;  // relative share under weighted round robin; 0 is invalid
  bool operator==(const endpoint_config&) const = default;
};

// A named set of endpoints and how to talk to them. Pools are per worker.
struct cluster_config {
  std::string name;
  std::vector<endpoint_config> endpoints;
  std::chrono::milliseconds connect_timeout{2000};  // connect failure or timeout: 503
  std::chrono::milliseconds idle_timeout{60000};    // pooled connection unused this long: closed
  std::size_t max_idle_per_endpoint = 64;           // keep-alive connections kept per worker
  // Equal definitions keep their pools (and pooled connections) across a reload.
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

}  // namespace gateway
