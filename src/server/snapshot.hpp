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
  // Stable across reloads for the same listener name: connections find their
  // listener in a newer snapshot by it.
  std::uint32_t id = 0;
  listener_config config;  // routes moved into `table`
  std::unique_ptr<router> table;
  std::unordered_map<const route_rule*, resolved_rule> rules;
};

struct cluster_runtime {
  // Stable across reloads while the cluster's definition does not change; the
  // workers' pools are keyed by it, so unchanged clusters keep their connections.
  std::uint32_t key = 0;
  cluster_config config;
  std::vector<tcp::endpoint> addresses;  // parallel to config.endpoints
  std::vector<std::uint32_t> weights;
};

struct snapshot {
  std::vector<listener_runtime> listeners;
  std::vector<cluster_runtime> clusters;

  // Validates and compiles `config`; throws gateway::error (invalid_config)
  // listing every problem found. Identities are not assigned yet (see below).
  static std::shared_ptr<snapshot> build(gateway_config config);

  // Gives listeners and clusters their identities: those of `previous` where a
  // listener has the same name or a cluster the same definition, fresh ones
  // from `next_identity` otherwise.
  void inherit_identities(const snapshot* previous, std::uint32_t& next_identity);

  // The listener with identity `id`, or null when this config has none.
  const listener_runtime* find_listener(std::uint32_t id) const noexcept;
};

}  // namespace gateway
