#pragma once
// Per-worker keep-alive pools of upstream connections and the worker's load
// balancer for each cluster. Owned by one worker thread: no locks. What the
// workers share (health, ejections, circuit-breaker counts) is in
// cluster_state, read through atomics.
//
// Pools are keyed by the cluster's identity (cluster_runtime::key), which a
// reload keeps for clusters whose definition did not change: those keep their
// pooled connections, balancer position and shared state. A request always
// names its cluster through the snapshot it started with, so requests that
// began before a reload keep working while the worker already serves the new one.
#include <gateway/upstream.hpp>

#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "asio/asio.hpp"
#include "asio/recv_buffer.hpp"
#include "upstream/cluster_state.hpp"

namespace gateway {

struct cluster_runtime;
struct snapshot;
class h2_connection;

// One connection to an upstream endpoint. It holds its endpoint's and
// cluster's connection counts (circuit breakers) until it closes.
struct upstream_connection {
  upstream_connection(asio::any_io_executor ex, std::shared_ptr<cluster_state> c,
                      std::shared_ptr<endpoint_state> e);
  ~upstream_connection();
  upstream_connection(const upstream_connection&) = delete;
  upstream_connection& operator=(const upstream_connection&) = delete;
  tcp::socket socket;
  recv_state reads;                  // the socket's, for recv_some
  std::unique_ptr<tls::stream> tls;  // over `socket` when the cluster has TLS (destroyed first)
  std::shared_ptr<cluster_state> cluster;
  std::shared_ptr<endpoint_state> endpoint;
  std::uint32_t cluster_key = 0;
  std::size_t slot = 0;        // the cluster's index in the snapshot it was made for
  std::size_t host = 0;        // a hint: the endpoint's index in its pool's host list
  std::uint32_t requests = 0;  // requests sent on it
  steady_clock::time_point idle_since{};
};

// What a pick takes from the request.
struct pick_context {
  std::uint64_t hash = 0;                 // the key's hash, for consistent hashing
  const endpoint_state* avoid = nullptr;  // a retry prefers another endpoint than this
};

class connection_pool {
 public:
  explicit connection_pool(asio::any_io_executor ex);

  // The worker now serves `current`: pools of clusters it no longer has are
  // closed, pools of new clusters are created. `current` must outlive the next call.
  void adopt(const snapshot& current);
  // An endpoint of cluster `c` of snapshot `s` by the cluster's policy (a host
  // index for take/fresh/endpoint), or npos when it has no endpoint at all.
  std::size_t pick(const snapshot& s, std::size_t c, const pick_context& ctx,
                   steady_clock::time_point now);
  // The endpoint of host `h` (from pick, valid until the worker's next suspension).
  const std::shared_ptr<endpoint_state>& endpoint(const snapshot& s, std::size_t c, std::size_t h);
  // An idle connection to host `h` of cluster `c` that is still open, or null.
  std::unique_ptr<upstream_connection> take(const snapshot& s, std::size_t c, std::size_t h,
                                            steady_clock::time_point now);
  // A fresh, unconnected socket for host `h` of cluster `c`.
  std::unique_ptr<upstream_connection> fresh(const snapshot& s, std::size_t c, std::size_t h);
  // The TLS session to offer a new connection to host `h` (resumption).
  const tls::session& session(const snapshot& s, std::size_t c, std::size_t h) {
    return pool_for(s, c).hosts[h].session;
  }
  // An HTTP/2 connection to host `h` of cluster `c` with room for one more
  // stream, or null.
  std::shared_ptr<h2_connection> take_shared(const snapshot& s, std::size_t c, std::size_t h);
  // Makes `conn` (connected, for host `h` of cluster `c`) an HTTP/2
  // connection the worker's requests to its endpoint share, and starts it.
  std::shared_ptr<h2_connection> share(const snapshot& s, std::size_t c, std::size_t h,
                                       std::unique_ptr<upstream_connection> conn);
  // Counts the HTTP/2 connections this worker is opening to `ep`: requests
  // wait for one instead of each opening their own.
  void start_opening(const endpoint_state& ep) { ++opening_[&ep]; }
  void end_opening(const endpoint_state& ep) {
    if (--opening_[&ep] == 0) opening_.erase(&ep);
  }
  bool is_opening(const endpoint_state& ep) const { return opening_.count(&ep) != 0; }
  // Counts this worker's requests waiting for room under cluster `cs`'s
  // connection limits. While it has some, the connections it gives back stay
  // pooled for them; otherwise, with requests waiting on other workers and the
  // cluster at max_connections, they close and leave their room to those.
  void start_waiting(const cluster_state& cs) { ++waiting_[&cs]; }
  void end_waiting(const cluster_state& cs) {
    if (--waiting_[&cs] == 0) waiting_.erase(&cs);
  }
  // Whether a new connection to host `h` of cluster `c` fits under the
  // circuit breaker's connection limits. When the cluster's max_connections
  // is what stops it, one of this worker's idle connections of the cluster
  // (to another endpoint: one to `h` would have been taken) closes for it.
  bool make_room(const snapshot& s, std::size_t c, std::size_t h);
  // Keeps the TLS session of a new connection `conn` (once the peer's first
  // answer has been read, so TLS 1.3 tickets are in) for the next connection
  // to its endpoint.
  void remember_session(upstream_connection& conn);
  // Keeps `conn` for reuse (or closes it when the pool is full, its cluster or
  // endpoint is gone, or it served its maximum of requests).
  void give_back(std::unique_ptr<upstream_connection> conn, steady_clock::time_point now);
  // Closes idle connections older than their cluster's idle timeout.
  void sweep(steady_clock::time_point now);
  // Closes every idle connection.
  void clear();
  // Idle connections currently kept, all clusters (HTTP/2 ones without a stream included).
  std::size_t idle_count() const noexcept;

 private:
  struct host_entry {
    host_entry(std::shared_ptr<endpoint_state> e) : ep(std::move(e)) {}
    host_entry(host_entry&&) noexcept = default;
    host_entry& operator=(host_entry&&) noexcept = default;
    ~host_entry();  // retires its HTTP/2 connections (streams under way finish)
    std::shared_ptr<endpoint_state> ep;
    std::vector<std::unique_ptr<upstream_connection>> idle;
    std::vector<std::shared_ptr<h2_connection>> shared;  // HTTP/2 clusters
    tls::session session;  // the last TLS session with it, for the next connection
  };
  struct cluster_pool {
    std::uint32_t key;
    bool live;  // the cluster is in the worker's current snapshot
    std::shared_ptr<cluster_state> state;
    std::vector<host_entry> hosts;
    // The balancer, rebuilt when the shared generation moves or at refresh_at
    // (an ejection ends, a slow start steps).
    std::uint64_t generation = 0;
    std::int64_t refresh_at = 0;
    bool equal_weights = true;
    std::vector<std::uint32_t> usable;      // host indexes
    std::vector<std::uint64_t> cumulative;  // running weight sums, parallel to usable
    std::optional<weighted_round_robin> rr;
    std::optional<consistent_hash> hashing;
  };
  cluster_pool& pool_for(const snapshot& s, std::size_t c);
  std::size_t shed_idle(cluster_pool& pool, std::size_t n);
  // Requests wait at the cluster's max_connections on other workers only.
  bool room_wanted_elsewhere(const cluster_pool& pool) const noexcept;
  // The host entry `conn` belongs to (and its pool), or null when it is gone.
  host_entry* find_host(upstream_connection& conn, cluster_pool** owner);
  static std::unique_ptr<cluster_pool> make_pool(const cluster_runtime& c, bool live);
  void rebuild(cluster_pool& pool, std::int64_t now);
  std::size_t weighted_draw(const cluster_pool& pool) noexcept;
  std::uint64_t random() noexcept {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
  }

  asio::any_io_executor executor_;
  std::unordered_map<std::uint32_t, std::unique_ptr<cluster_pool>> pools_;
  const snapshot* current_ = nullptr;
  std::vector<cluster_pool*> slots_;  // parallel to current_->clusters
  std::unordered_map<const endpoint_state*, std::uint32_t> opening_;
  std::unordered_map<const cluster_state*, std::uint32_t> waiting_;
  std::uint64_t rng_;
};

}  // namespace gateway
