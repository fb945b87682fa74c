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

void connection_pool::configure(const std::vector<cluster_runtime>& clusters) {
  clusters_.clear();
  clusters_.reserve(clusters.size());
  for (const auto& c : clusters) {
    std::vector<std::uint32_t> weights = c.weights;
    if (weights.empty()) weights.push_back(1);  // never picked: the cluster answers 503 first
    clusters_.push_back(
        {weighted_round_robin(weights), c.config.idle_timeout, c.config.max_idle_per_endpoint, {}});
    clusters_.back().idle.resize(c.addresses.size());
  }
}

std::unique_ptr<upstream_connection> connection_pool::take(std::size_t c, std::size_t e,
                                                           steady_clock::time_point now) {
  auto& pool = clusters_[c];
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

std::unique_ptr<upstream_connection> connection_pool::fresh(std::size_t c, std::size_t e) {
  auto conn = std::make_unique<upstream_connection>(executor_);
  conn->cluster = c;
  conn->endpoint = e;
  return conn;
}

void connection_pool::give_back(std::unique_ptr<upstream_connection> conn,
                                steady_clock::time_point now) {
  if (conn->cluster >= clusters_.size()) return;
  auto& pool = clusters_[conn->cluster];
  if (conn->endpoint >= pool.idle.size()) return;
  auto& stack = pool.idle[conn->endpoint];
  if (stack.size() >= pool.max_idle) return;  // closes on destruction
  conn->idle_since = now;
  stack.push_back(std::move(conn));
}

void connection_pool::sweep(steady_clock::time_point now) {
  for (auto& pool : clusters_)
    for (auto& stack : pool.idle)
      std::erase_if(stack, [&](const std::unique_ptr<upstream_connection>& c) {
        return now - c->idle_since >= pool.idle_timeout;
      });
}

void connection_pool::clear() {
  for (auto& pool : clusters_)
    for (auto& stack : pool.idle)
      stack.clear();
}

}  // namespace gateway
