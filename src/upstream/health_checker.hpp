#pragma once
// Active health checks: one thread of its own runs a probe loop per cluster
// that has a check configured, probing each endpoint once per interval (with
// jitter), however many workers there are. Verdicts go into the cluster's
// shared state (cluster_state::set_healthy), which the workers read without
// locks. Never runs on a worker thread, so a slow probe cannot delay a request.
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "asio/asio.hpp"
#include "core/logger.hpp"
#include "upstream/cluster_state.hpp"

namespace gateway {

class health_checker {
 public:
  explicit health_checker(const logger& log);
  ~health_checker();  // stops the probes and joins the thread
  health_checker(const health_checker&) = delete;
  health_checker& operator=(const health_checker&) = delete;

  // Checks exactly the clusters in `clusters` that have a health check: new
  // ones start (first probe at once), ones no longer listed stop. Any thread.
  void sync(const std::vector<std::shared_ptr<cluster_state>>& clusters);

 private:
  struct watched;
  asio::awaitable<void> run(std::shared_ptr<watched> w);
  asio::awaitable<void> probe(std::shared_ptr<watched> w, std::shared_ptr<endpoint_state> ep);

  const logger& log_;
  asio::io_context context_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::unordered_map<const cluster_state*, std::shared_ptr<watched>> watched_;  // context thread
  std::thread thread_;
};

}  // namespace gateway
