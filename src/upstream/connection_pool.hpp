#pragma once
// Per-worker keep-alive pools of upstream connections, one stack of idle
// connections per endpoint (most recently used first, so hot connections stay
// warm). Owned by one worker thread: no locks.
#include <gateway/upstream.hpp>

#include <memory>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

struct cluster_runtime;

// One connection to an upstream endpoint.
struct upstream_connection {
  explicit upstream_connection(asio::any_io_executor ex) : socket(ex) {}
  tcp::socket socket;
  std::size_t cluster = 0;
  std::size_t endpoint = 0;
  steady_clock::time_point idle_since{};
};

class connection_pool {
 public:
  explicit connection_pool(asio::any_io_executor ex) : executor_(std::move(ex)) {}

  // Sets up the pools of `clusters` (the current snapshot's clusters).
  void configure(const std::vector<cluster_runtime>& clusters);
  // Next endpoint of cluster `c` by weighted round robin.
  std::size_t pick(std::size_t c) noexcept { return clusters_[c].picker.next(); }
  // An idle connection to endpoint `e` of cluster `c` that is still open, or null.
  std::unique_ptr<upstream_connection> take(std::size_t c, std::size_t e,
                                            steady_clock::time_point now);
  // A fresh, unconnected socket for endpoint `e` of cluster `c`.
  std::unique_ptr<upstream_connection> fresh(std::size_t c, std::size_t e);
  // Keeps `conn` for reuse (or closes it when the pool is full).
  void give_back(std::unique_ptr<upstream_connection> conn, steady_clock::time_point now);
  // Closes idle connections older than their cluster's idle timeout.
  void sweep(steady_clock::time_point now);
  // Closes every idle connection.
  void clear();

 private:
  struct cluster_pool {
    weighted_round_robin picker;
    std::chrono::milliseconds idle_timeout;
    std::size_t max_idle;
    std::vector<std::vector<std::unique_ptr<upstream_connection>>> idle;  // per endpoint
  };
  asio::any_io_executor executor_;
  std::vector<cluster_pool> clusters_;
};

}  // namespace gateway
