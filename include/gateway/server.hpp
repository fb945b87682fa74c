#pragma once
#include <gateway/config.hpp>
#include <gateway/export.hpp>
#include <gateway/log.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace gateway {

// How a server runs: threads and logging.
struct server_options {
  unsigned threads = 0;  // worker threads, each with its own event loop; 0: one per core
  log_level level = log_level::info;
  log_sink sink;  // empty: lines go to stderr
};

// A running gateway: listeners opened once per worker (SO_REUSEPORT), one event
// loop per worker, per-worker upstream pools, config as an immutable snapshot.
// Owns its threads; all public calls are thread-safe.
class GATEWAY_API server {
 public:
  // Validates `config` and prepares the snapshot; throws gateway::error.
  explicit server(gateway_config config, server_options options = {});
  // Stops (graceful with a short deadline) and joins the workers.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Opens every listener and starts the workers; throws gateway::error (bind_failed).
  void start();
  // Stops accepting, closes idle keep-alive connections, lets in-flight requests
  // finish until `drain` has passed, then closes the rest and joins the workers.
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(5));
  // Blocks until the server has stopped (by stop() from another thread).
  void wait();

  // Replaces the config while traffic flows. The new config is validated and
  // compiled whole first; if anything is wrong (or a new listener cannot bind)
  // it throws gateway::error and the old config keeps serving unchanged.
  // Requests in flight finish on the config they started with; keep-alive
  // connections serve their next request from the new one. Listeners whose
  // name and bind address stay keep their sockets; removed ones are closed.
  // Clusters whose definition is unchanged keep their pooled connections.
  void reload(gateway_config config);
  // Same, reporting failure through `ec` and `message` instead of throwing.
  void reload(gateway_config config, std::error_code& ec, std::string& message) noexcept;
  // Starts at 1 and grows by one with each successful reload.
  std::uint64_t config_version() const noexcept;

  // The local port a listener is bound to (useful with bind_port 0); throws not_found.
  std::uint16_t port(std::string_view listener_name) const;
  // The local port of the first listener.
  std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gateway
