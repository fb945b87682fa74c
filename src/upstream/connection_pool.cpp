#include "upstream/connection_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "server/snapshot.hpp"

namespace gateway {
namespace {
// An idle keep-alive connection must have nothing to read: EOF means the
// upstream closed it, and stray bytes mean it is out of step. One peek, no wait.
bool still_open(tcp::socket& s) noexcept {
  char byte;
  ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

std::unique_ptr<connection_pool::cluster_pool> connection_pool::make_pool(const cluster_runtime& c,
                                                                          bool live) {
  std::vector<std::uint32_t> weights = c.weights;
  if (weights.empty()) weights.push_back(1);  // never picked: the cluster answers 503 first
  auto pool = std::unique_ptr<cluster_pool>(new cluster_pool{c.key,
                                                             live,
                                                             weighted_round_robin(weights),
                                                             c.config.idle_timeout,
                                                             c.config.max_idle_per_endpoint,
                                                             {}});
  pool->idle.resize(c.addresses.size());
  return pool;
}

void connection_pool::adopt(const snapshot& current) {
  for (auto& [key, pool] : pools_)
    pool->live = false;
  slots_.clear();
  slots_.reserve(current.clusters.size());
  for (const auto& c : current.clusters) {
    auto& pool = pools_[c.key];
    if (!pool) pool = make_pool(c, true);
    pool->live = true;
    slots_.push_back(pool.get());
  }
  // No reference to a pool is held across a suspension (requests look their
  // pool up at each step), so dropped pools can go now; their idle
  // connections close with them.
  std::erase_if(pools_, [](const auto& entry) { return !entry.second->live; });
  current_ = &current;
}

connection_pool::cluster_pool& connection_pool::pool_for(const snapshot& s, std::size_t c) {
  if (&s == current_) return *slots_[c];
  // A request that started on an older snapshot: its cluster may be gone from
  // the current one; then it gets a pool of its own that nothing is returned to.
  const cluster_runtime& cluster = s.clusters[c];
  auto& pool = pools_[cluster.key];
  if (!pool) pool = make_pool(cluster, false);
  return *pool;
}

std::unique_ptr<upstream_connection> connection_pool::take(const snapshot& s, std::size_t c,
                                                           std::size_t e,
                                                           steady_clock::time_point now) {
  auto& pool = pool_for(s, c);
  auto& stack = pool.idle[e];
  while (!stack.empty()) {
    std::unique_ptr<upstream_connection> conn = std::move(stack.back());
    stack.pop_back();
    if (now - conn->idle_since < pool.idle_timeout && still_open(conn->socket)) return conn;
    boost::system::error_code ignored;
    conn->socket.close(ignored);
  }
  return nullptr;
}

std::unique_ptr<upstream_connection> connection_pool::fresh(const snapshot& s, std::size_t c,
                                                            std::size_t e) {
  auto conn = std::make_unique<upstream_connection>(executor_);
  conn->cluster_key = s.clusters[c].key;
  conn->slot = c;
  conn->endpoint = e;
  return conn;
}

void connection_pool::give_back(std::unique_ptr<upstream_connection> conn,
                                steady_clock::time_point now) {
  cluster_pool* pool = nullptr;
  if (conn->slot < slots_.size() && slots_[conn->slot]->key == conn->cluster_key) {
    pool = slots_[conn->slot];
  } else if (auto it = pools_.find(conn->cluster_key); it != pools_.end()) {
    pool = it->second.get();
  }
  if (!pool || !pool->live || conn->endpoint >= pool->idle.size()) return;  // closes it
  auto& stack = pool->idle[conn->endpoint];
  if (stack.size() >= pool->max_idle) return;
  conn->idle_since = now;
  stack.push_back(std::move(conn));
}

void connection_pool::sweep(steady_clock::time_point now) {
  for (auto& [key, pool] : pools_)
    for (auto& stack : pool->idle)
      std::erase_if(stack, [&](const std::unique_ptr<upstream_connection>& c) {
        return now - c->idle_since >= pool->idle_timeout;
      });
}

void connection_pool::clear() {
  for (auto& [key, pool] : pools_)
    for (auto& stack : pool->idle)
      stack.clear();
}

std::size_t connection_pool::idle_count() const noexcept {
  std::size_t n = 0;
  for (const auto& [key, pool] : pools_)
    for (const auto& stack : pool->idle)
      n += stack.size();
  return n;
}

}  // namespace gateway
