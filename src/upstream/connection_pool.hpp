#pragma once
// Per-worker keep-alive pools of upstream connections, one stack of idle
// connections per endpoint (most recently used first, so hot connections stay
// warm). Owned by one worker thread: no locks.
//
// Pools are keyed by the cluster's identity (cluster_runtime::key), which a
// reload keeps for clusters whose definition did not change: those keep their
// pooled connections and their round-robin position. A request always names
// its cluster through the snapshot it started with, so requests that began
// before a reload keep working while the worker already serves the new one.
#include <gateway/upstream.hpp>

#include <memory>
#include <unordered_map>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

struct cluster_runtime;
struct snapshot;

// One connection to an upstream endpoint.
struct upstream_connection {
  explicit upstream_connection(asio::any_io_executor ex) : socket(ex) {}
  tcp::socket socket;
  std::uint32_t cluster_key = 0;
  std::size_t slot = 0;  // the cluster's index in the snapshot it was made for
  std::size_t endpoint = 0;
  steady_clock::time_point idle_since{};
};

class connection_pool {
 public:
  explicit connection_pool(asio::any_io_executor ex) : executor_(std::move(ex)) {}

  // The worker now serves `current`: pools of clusters it no longer has are
  // closed, pools of new clusters are created. `current` must outlive the next call.
  void adopt(const snapshot& current);
  // Next endpoint of cluster `c` of snapshot `s` by weighted round robin.
  std::size_t pick(const snapshot& s, std::size_t c) { return pool_for(s, c).picker.next(); }
  // An idle connection to endpoint `e` of cluster `c` that is still open, or null.
  std::unique_ptr<upstream_connection> take(const snapshot& s, std::size_t c, std::size_t e,
                                            steady_clock::time_point now);
  // A fresh, unconnected socket for endpoint `e` of cluster `c`.
  std::unique_ptr<upstream_connection> fresh(const snapshot& s, std::size_t c, std::size_t e);
  // Keeps `conn` for reuse (or closes it when the pool is full or its cluster is gone).
  void give_back(std::unique_ptr<upstream_connection> conn, steady_clock::time_point now);
  // Closes idle connections older than their cluster's idle timeout.
  void sweep(steady_clock::time_point now);
  // Closes every idle connection.
  void clear();
  // Idle connections currently kept, all clusters.
  std::size_t idle_count() const noexcept;

 private:
  struct cluster_pool {
    std::uint32_t key;
    bool live;  // the cluster is in the worker's current snapshot
    weighted_round_robin picker;
    std::chrono::milliseconds idle_timeout;
    std::size_t max_idle;
    std::vector<std::vector<std::unique_ptr<upstream_connection>>> idle;  // per endpoint
  };
  cluster_pool& pool_for(const snapshot& s, std::size_t c);
  static std::unique_ptr<cluster_pool> make_pool(const cluster_runtime& c, bool live);

  asio::any_io_executor executor_;
  std::unordered_map<std::uint32_t, std::unique_ptr<cluster_pool>> pools_;
  const snapshot* current_ = nullptr;
  std::vector<cluster_pool*> slots_;  // parallel to current_->clusters
};

}  // namespace gateway
