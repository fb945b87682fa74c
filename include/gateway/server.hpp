#pragma once
#include <gateway/config.hpp>
#include <gateway/evaluate.hpp>
#include <gateway/export.hpp>
#include <gateway/log.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace boost::asio {
class io_context;
}

namespace gateway {

class server;
// See <gateway/asio.hpp>: a gateway served by a host's own io_context.
GATEWAY_API void start_on(server& srv, boost::asio::io_context& context);
GATEWAY_API void async_stop(server& srv, std::chrono::milliseconds drain,
                            std::function<void()> done);
GATEWAY_API std::size_t run_on(server& srv, boost::asio::io_context& context);

// Where the admin listener binds (the dashboard at /, /ready, /live, /status, /config,
// /reload, /stats/prometheus).
struct admin_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 9901;  // 0: an ephemeral port (see server::admin_port)
};

// The access log: one line per request, written by a background thread.
struct access_log_options {
  std::string path;    // "" for no access log, "-" for stderr, else a file (appended)
  std::string format;  // "" for JSON lines; else text with %field% placeholders (see README)
};

// What one worker thread takes on at once, over all its listeners. Past a
// cap, a new connection is closed as it is accepted, and a new request is
// refused (HTTP/1.1: 503 and close; HTTP/2: REFUSED_STREAM, which a client
// may retry); each refusal counts in gateway_limit_hits_total.
struct worker_limits {
  // Client connections; 0: from the process's descriptor limit (RLIMIT_NOFILE
  // when the server starts): half of it, less a reserve of 64, shared by the
  // workers (each client connection may hold one upstream descriptor).
  std::size_t max_connections = 0;
  // Requests in progress: HTTP/1.1 requests and HTTP/2 streams; 0: unlimited.
  std::size_t max_streams = 10000;
};

// The overload manager, as Envoy's: the process's heap in use and its open
// descriptors, sampled every `interval` on a thread of its own (mounted on a
// host's io_context: on that loop), against two thresholds each (0: that one
// is not watched; nothing watched: no sampling).
// Past a soft threshold the gateway saturates: it stops accepting connections
// (those already accepted are closed) and turns keep-alive off (HTTP/2:
// GOAWAY). Past a hard one it also sheds: new requests get 503 (HTTP/2:
// REFUSED_STREAM) and connections waiting for a request are closed. It comes
// back by itself once every value is 5% under the thresholds it passed. Each
// change is logged and counted (gateway_overload_*).
struct overload_options {
  // Bytes the allocator has handed out (glibc mallinfo2: arenas and mmapped
  // blocks; a sanitizer's own count under one), else the resident set.
  std::uint64_t heap_soft = 0, heap_hard = 0;
  std::uint64_t descriptors_soft = 0, descriptors_hard = 0;  // open file descriptors
  std::chrono::milliseconds interval{250};
};

// How a server runs: threads, logging, admin listener, access log, limits.
struct server_options {
  unsigned threads =
      0;  // worker threads, each with its own event loop; 0: one per CPU the process may use
  log_level level = log_level::info;
  log_sink sink;                       // empty: lines go to stderr
  std::optional<admin_options> admin;  // empty: no admin listener
  access_log_options access_log;
  // Where POST /reload gets the next config from (gatewayd re-reads its file);
  // empty: /reload answers 501.
  std::function<gateway_config()> config_source;
  // How often certificate, key and OCSP files of HTTPS listeners are checked;
  // a change reloads the config the server runs (a rejected certificate is
  // logged and the old one keeps serving). 0: never. Checked on a thread of
  // their own, or on the host's loop when mounted (gateway::start_on).
  std::chrono::milliseconds certificate_check_interval{2000};
  worker_limits limits;
  overload_options overload;
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
  // Same, with `threads` workers instead of server_options::threads (0: one per CPU).
  void start(unsigned threads);
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
  // bind address stays keep their sockets; removed ones are closed (their
  // ports free, their idle connections closed) by the time it returns.
  // Clusters whose definition is unchanged keep their pooled connections.
  // It waits for the workers, so call it from a thread of the host, not from
  // a worker (a filter); from there it would wait out its 2 s bound.
  void reload(gateway_config config);
  // Same, reporting failure through `ec` and `message` instead of throwing.
  void reload(gateway_config config, std::error_code& ec, std::string& message) noexcept;
  // Reloads with the config `source` builds (gatewayd re-reading its file); a
  // source that throws counts as a failed reload, as a rejected config does,
  // in the metrics and the admin listener's /status, then rethrows.
  void reload_from(const std::function<gateway_config()>& source);
  // Starts at 1 and grows by one with each successful reload.
  std::uint64_t config_version() const noexcept;

  // The stats in Prometheus text format, summed over the workers (what the
  // admin listener serves at /stats/prometheus). Only while running.
  std::string stats_text() const;
  // The config being served as JSON, with route status conditions (/config).
  std::string config_json() const;
  // The admin listener's port; throws not_found when there is none.
  std::uint16_t admin_port() const;
  // Reopens the access log file (after logrotate moved it; gatewayd: SIGUSR1).
  void reopen_logs();

  // What the config being served would do with `request` (see evaluate.hpp):
  // filters run for real, the upstream is not contacted. Works before start
  // too; thread-safe, but not from a filter hook (a paused filter would wait
  // for its own thread). Throws gateway::error for a URL it cannot use or a
  // listener that does not exist (not_found).
  evaluation_result evaluate(const evaluation_request& request) const;

  // The local port a listener is bound to (useful with bind_port 0); throws not_found.
  std::uint16_t port(std::string_view listener_name) const;
  // The local port of the first listener.
  std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  friend class host_server;  // the client's and middleware's: listeners never bound
  friend void start_on(server&, boost::asio::io_context&);
  friend void async_stop(server&, std::chrono::milliseconds, std::function<void()>);
  friend std::size_t run_on(server&, boost::asio::io_context&);
};

}  // namespace gateway
