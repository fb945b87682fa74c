#pragma once
// An immutable, validated configuration with everything precomputed that a
// request needs: compiled routers, clusters by index, rules resolved to
// clusters. Shared read-only by all workers; replaced whole on reload.
#include <gateway/config.hpp>

#include <atomic>
#include <memory>
#include <unordered_map>
#include <vector>

#include "asio/asio.hpp"
#include "server/stats.hpp"
#include "tls/server_tls.hpp"
#include "upstream/cluster_state.hpp"

namespace re2 {
class RE2;
}

namespace gateway {

inline constexpr std::size_t invalid_backend = ~std::size_t{0};

struct resolved_backend {
  std::size_t cluster = 0;  // index into snapshot::clusters, or invalid_backend (500)
  std::uint32_t weight = 0;
  std::uint32_t series = 0;  // stats series (listener, route, this backend)
};

struct resolved_mirror {
  std::size_t cluster = 0;  // index into snapshot::clusters
  std::uint32_t numerator = 1;
  std::uint32_t denominator = 1;
};

// A route rule's backends with weight 0 removed; empty means "answer 500".
struct resolved_rule {
  std::vector<resolved_backend> backends;
  std::uint64_t total_weight = 0;
  std::vector<resolved_mirror> mirrors;
  std::uint32_t local_series = 0;              // stats series for answers the gateway gives itself
  std::shared_ptr<const re2::RE2> path_regex;  // for regex rewrites and redirects
};

struct listener_runtime {
  listener_config config;  // routes moved into `table`
  std::unique_ptr<router> table;
  std::unordered_map<const route_rule*, resolved_rule> rules;
  std::uint32_t unrouted_series = 0;  // stats series for requests no route serves
  // Its client validation (tls::server_context::validation_id; 0: none). A
  // request on a TLS connection whose handshake chose a listener with other
  // validation is refused (421), so another listener's SNI cannot bypass it.
  std::uint64_t tls_validation = 0;
};

// Listeners that share one local address and port: Gateway API listeners on
// one port told apart by hostname. One socket per worker serves them all; each
// request goes to the listener whose hostname matches its Host best.
struct socket_group {
  // Stable across reloads for the same `key`: connections find their group in
  // a newer snapshot by it, and the server keeps the group's sockets.
  std::uint32_t id = 0;
  std::string key;  // "address:port"; a listener with an ephemeral port is alone, keyed by name
  std::string bind_address;
  std::uint16_t bind_port = 0;
  std::vector<std::size_t> members;  // indexes into snapshot::listeners, most specific first
  listener_protocol protocol = listener_protocol::http;  // all its members'; one port, one protocol
  // HTTPS: the handshake settings of every member (null: plain HTTP). Kept
  // from the previous snapshot when nothing in it changed.
  std::shared_ptr<const tls::server_context> tls;
  // The smallest connection limit of its members (0: none), with its close
  // delay; `open` counts its connections over all workers and is kept across
  // reloads with the id, so a new limit judges the connections already open.
  std::size_t max_connections = 0;
  std::chrono::milliseconds close_delay{0};
  std::shared_ptr<std::atomic<std::size_t>> open;
};

struct cluster_runtime {
  // Stable across reloads while the cluster's definition does not change; the
  // workers' pools are keyed by it, so unchanged clusters keep their connections.
  std::uint32_t key = 0;
  cluster_config config;
  // Health, ejections and circuit-breaker counts, shared by the workers and
  // kept with the key; set by inherit_identities.
  std::shared_ptr<cluster_state> state;
  std::shared_ptr<const tls::client_context> tls;  // null: plain TCP
};

struct snapshot {
  std::vector<listener_runtime> listeners;
  std::vector<socket_group> groups;
  std::vector<cluster_runtime> clusters;

  // Validates and compiles `config`; throws gateway::error (invalid_config)
  // listing every problem found. Identities are not assigned yet (see below).
  static std::shared_ptr<snapshot> build(gateway_config config);

  // Gives socket groups and clusters their identities: those of `previous`
  // where a group has the same key or a cluster the same definition, fresh
  // ones from `next_identity` otherwise.
  void inherit_identities(const snapshot* previous, std::uint32_t& next_identity);
  // Gives every (listener, route, backend) its stats series from `registry`.
  void assign_series(series_registry& registry);
  std::uint32_t series_count = 0;  // ids are below this

  // The socket group with identity `id`, or null when this config has none.
  const socket_group* find_group(std::uint32_t id) const noexcept;
  // The listener of `group` that serves `host` (a Host header value), or null
  // when none of its listeners' hostnames matches.
  const listener_runtime* select(const socket_group& group, std::string_view host) const noexcept;
};

}  // namespace gateway
