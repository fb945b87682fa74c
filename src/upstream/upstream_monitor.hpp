#pragma once
// The upstreams' control side, on a thread of its own (never a worker's):
// active health checks, one probe loop per endpoint for the whole process
// however many workers there are, and the DNS refresh of clusters whose
// endpoints are given by name. Verdicts and endpoint lists go into each
// cluster's shared state (cluster_state), which the workers read without locks.
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "asio/asio.hpp"
#include "core/logger.hpp"
#include "upstream/cluster_state.hpp"

namespace gateway {

class upstream_monitor {
 public:
  explicit upstream_monitor(const logger& log);
  ~upstream_monitor();  // stops the probes and refreshes, joins the thread
  upstream_monitor(const upstream_monitor&) = delete;
  upstream_monitor& operator=(const upstream_monitor&) = delete;

  // Whether a cluster needs watching: it has health checks or names to resolve.
  static bool watches(const cluster_config& c);

  // Watches exactly `clusters`: health checks and DNS refreshes of new ones
  // start (first probe and lookup at once), those of clusters no longer
  // listed stop. The future is ready once every new cluster's names have had
  // their first lookup (answered or failed). Any thread.
  std::future<void> sync(const std::vector<std::shared_ptr<cluster_state>>& clusters);

 private:
  struct watched;
  asio::awaitable<void> check_health(std::shared_ptr<watched> w);
  asio::awaitable<void> probe(std::shared_ptr<watched> w, std::shared_ptr<endpoint_state> ep);
  // Keeps the cluster's named endpoints resolved; `first_done` runs after the first lookup.
  asio::awaitable<void> refresh_dns(std::shared_ptr<watched> w, std::function<void()> first_done);
  // Resolves every name once and publishes changes; returns when to look again.
  asio::awaitable<std::chrono::milliseconds> resolve_all(watched& w);

  const logger& log_;
  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unordered_map<const cluster_state*, std::shared_ptr<watched>> watched_;  // context thread
  std::thread thread_;
};

}  // namespace gateway
