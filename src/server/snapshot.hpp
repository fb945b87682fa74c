#pragma once
// An immutable, validated configuration with everything precomputed that a
// request needs: compiled routers, clusters by index, rules resolved to
// clusters. Shared read-only by all workers; replaced whole on reload.
#include <gateway/config.hpp>

#include <memory>
#include <unordered_map>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

struct resolved_backend {
  std::size_t cluster = 0;  // index into snapshot::clusters
  std::uint32_t weight = 0;
};

// A route rule's backends with weight 0 removed; empty means "answer 500".
struct resolved_rule {
  std::vector<resolved_backend> backends;
  std::uint64_t total_weight = 0;
};

struct listener_runtime {
  listener_config config;  // routes moved into `table`
  std::unique_ptr<router> table;
  std::unordered_map<const route_rule*, resolved_rule> rules;
};

struct cluster_runtime {
  cluster_config config;
  std::vector<tcp::endpoint> addresses;  // parallel to config.endpoints
  std::vector<std::uint32_t> weights;
};

struct snapshot {
  std::vector<listener_runtime> listeners;
  std::vector<cluster_runtime> clusters;

  // Validates and compiles `config`; throws gateway::error (invalid_config)
  // listing every problem found.
  static std::shared_ptr<const snapshot> build(gateway_config config);
};

}  // namespace gateway
