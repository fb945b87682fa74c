#pragma once
// The server's state behind its public face (server.hpp's pimpl): workers,
// bound sockets, the control plane's bookkeeping. Only server.cpp includes it.
#include <gateway/error.hpp>
#include <gateway/server.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "admin/admin_server.hpp"
#include "core/cpus.hpp"
#include "core/json_writer.hpp"
#include "server/evaluation.hpp"
#include "server/periodic.hpp"
#include "server/prometheus_text.hpp"
#include "server/worker.hpp"
#include "tracing/trace_exporter.hpp"
#include "upstream/upstream_monitor.hpp"
#include "waf/match_log.hpp"

namespace gateway {

namespace server_detail {
// Where a socket group is bound, to tell on a reload whether its sockets can stay.
struct bound_group {
  std::uint32_t id;
  std::string key;
  std::vector<std::string> listeners;  // names, for server::port
  tcp::endpoint requested;             // from the config; port 0 means "any"
  std::uint16_t port;                  // what it got
};

inline std::vector<std::string> member_names(const snapshot& snap, const socket_group& g) {
  std::vector<std::string> names;
  for (std::size_t i : g.members)
    names.push_back(snap.listeners[i].config.name);
  return names;
}
}  // namespace server_detail

using server_detail::bound_group;
using server_detail::member_names;

struct server::impl {
  server_shared shared;
  server_options options;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<bound_group> bound;
  std::uint32_t next_identity = 0;
  series_registry series;  // grows only; guarded by `control`
  std::atomic<std::uint64_t> reloads_ok{0}, reloads_failed{0};
  // The last reload's outcome, for /status and the dashboard; guarded by `control`.
  struct reload_outcome {
    bool tried = false, ok = false;
    std::int64_t at = 0;  // Unix seconds
    std::string error;
  } last_reload;
  std::int64_t started_at = 0;  // Unix seconds, set by start()
  // Counts a reload and keeps its outcome (`control` held).
  void record_reload(bool ok, std::string error = {});
  std::string config_json;  // of the config being served; guarded by `control`
  std::unique_ptr<admin_server> admin;
  std::unique_ptr<upstream_monitor> monitor;        // while running
  std::unique_ptr<overload_monitor> overload;       // while running
  std::unique_ptr<tracing::trace_exporter> tracer;  // while running, when a listener traces
  // The config being served, for reloading it when certificate files change.
  std::optional<gateway_config> served;  // guarded by `control`

  // Each certificate file's identity (inode, size, modification time).
  using file_marks = std::map<std::string, std::string>;
  // The marks of the served snapshot's files, taken right after it read them
  // (under `control`): a change made before the first check is still a change.
  file_marks served_marks;
  static file_marks mark_files(const snapshot& snap) {
    file_marks marks;
    for (const auto& g : snap.groups) {
      if (!g.tls) continue;
      for (const auto& f : g.tls->files()) {
        struct stat st {};
        marks[f] = ::stat(f.c_str(), &st) != 0
                       ? std::string("missing")
                       : std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
                             std::to_string(st.st_mtim.tv_sec) + "." +
                             std::to_string(st.st_mtim.tv_nsec);
      }
    }
    return marks;
  }
  // The checks of the certificate files, once a served config has any: on a
  // thread of their own, or on the host's loop when mounted (a few stat()
  // calls each), where a change starts a thread for the reload (it compiles
  // the whole config) and the process has no thread for them until then.
  std::mutex watch_mutex;  // guards the five below
  std::unique_ptr<periodic> file_checks;
  file_marks checked_marks;  // what the last check saw
  std::thread file_reload;   // mounted: the reload a check started
  bool reload_done = true;   // file_reload has finished its work
  bool watch_stop = false;   // stopping: no new checks, no new reload
  // One check: a changed file reloads the served config.
  void check_files();
  // The reload for check_files (it takes `control`).
  void reload_changed_files();
  // Starts the checks once a served config has certificate files (a gateway
  // without HTTPS listeners has none). Under `control`.
  void watch_if_needed(const snapshot& snap) {
    const auto every = options.certificate_check_interval;
    if (every.count() <= 0 || current != state::running) return;
    bool files = false;
    for (const auto& g : snap.groups)
      files = files || (g.tls && !g.tls->files().empty());
    if (!files) return;
    std::lock_guard lock(watch_mutex);
    if (watch_stop || file_checks) return;
    checked_marks = served_marks;
    file_checks = std::make_unique<periodic>(
        every, [this] { check_files(); }, host);
  }
  // Ends the checks and waits for a reload they started. Without `control`
  // (the reload takes it).
  void stop_watching() {
    std::unique_ptr<periodic> checks;
    std::thread reload;
    {
      std::lock_guard lock(watch_mutex);
      watch_stop = true;
      checks = std::move(file_checks);
      reload = std::move(file_reload);
    }
    checks.reset();  // waits for a check under way (it starts no reload now)
    if (reload.joinable()) reload.join();
  }
  void log_tls_warnings(const snapshot& snap) {
    for (const auto& g : snap.groups)
      if (g.tls)
        for (const auto& w : g.tls->warnings())
          shared.log.log(log_level::warn, "TLS: {}", w);
  }

  // Health checks and DNS follow the clusters of the snapshot about to be
  // served. A new cluster's names are looked up before it takes traffic (for
  // at most a few seconds), so its first requests do not find it empty.
  // The monitor (and its thread) exists once a cluster needs it.
  void sync_monitor(const snapshot& snap) {
    std::vector<std::shared_ptr<cluster_state>> states;
    bool needed = false;
    for (const auto& c : snap.clusters) {
      states.push_back(c.state);
      needed = needed || upstream_monitor::watches(c.config);
    }
    if (!monitor && !needed) return;
    if (!monitor) monitor = std::make_unique<upstream_monitor>(shared.log);
    auto ready = monitor->sync(states);
    if (ready.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
      shared.log.log(log_level::warn, "DNS: first lookups still unanswered after 5 s; serving");
  }

  // The span exporter follows the snapshot about to be served: made when a
  // listener traces, kept while its collector and batching stay, replaced
  // when they change (the old one sends what it has first), gone when none
  // traces. `control` held, workers running.
  void sync_tracer(const snapshot& snap) {
    const tracing_config* wanted = nullptr;
    for (const auto& l : snap.listeners)
      if (l.config.tracing) {
        wanted = &*l.config.tracing;
        break;
      }
    if (tracer && wanted) {
      const tracing_config& have = tracer->config();
      if (have.collector == wanted->collector && have.service_name == wanted->service_name &&
          have.flush_interval == wanted->flush_interval &&
          have.max_queued_bytes == wanted->max_queued_bytes)
        return;
    }
    tracer.reset();
    if (wanted)
      tracer = std::make_unique<tracing::trace_exporter>(
          *wanted,
          [this](std::vector<tracing::trace_exporter::span_batch>& out) { collect_spans(out); },
          shared.log);
  }
  // A batch per worker that holds spans, taken on its own thread (a worker
  // that does not answer within a second keeps them for the next flush).
  void collect_spans(std::vector<tracing::trace_exporter::span_batch>& out);

  admin_response admin_request(server& owner, std::string_view method, std::string_view path,
                               std::string_view body);
  std::string stats_text();
  std::mutex control;  // serializes start/stop/reload; never taken by workers
  enum class state { created, running, stopped } current = state::created;
  std::condition_variable stopped_cv;

  void wait_for_connections(std::chrono::steady_clock::time_point until) {
    // Control-plane wait, bounded by `until`.
    while (shared.connections.load(std::memory_order_relaxed) > 0 &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  // Opens socket group `g` once per worker; the first socket picks the port
  // when the config asks for any, the others share it. Throws bind_failed.
  bound_group open_everywhere(const snapshot& snap, const socket_group& g,
                              std::vector<std::vector<std::shared_ptr<listen_socket>>>& out) {
    tcp::endpoint requested(asio::ip::make_address(g.bind_address), g.bind_port);
    tcp::endpoint where = requested;
    for (std::size_t w = 0; w < workers.size(); ++w) {
      auto socket = open_listen_socket(workers[w]->context(), g.id, where);
      where = socket->acceptor.local_endpoint();
      out[w].push_back(std::move(socket));
    }
    std::vector<std::string> names = member_names(snap, g);
    std::string joined;
    for (const auto& n : names)
      joined += (joined.empty() ? "" : ", ") + n;
    shared.log.log(log_level::info, "listening on {}:{} for {} ({} {})",
                   where.address().to_string(), where.port(), joined, workers.size(),
                   workers.size() == 1 ? "worker" : "workers");
    return {g.id, g.key, std::move(names), requested, where.port()};
  }

  void publish(std::shared_ptr<const snapshot> next) {
    shared.current.store(std::move(next));
    shared.version.fetch_add(1, std::memory_order_release);
  }

  void reload(gateway_config config);
  void start(server& owner, asio::io_context* host_context);
  // Mounted (gateway::async_stop): drains on the host's loop, then calls stop_waiters there.
  asio::awaitable<void> drain_mounted(std::chrono::milliseconds drain);
  asio::io_context* host = nullptr;                 // the host's loop when mounted
  std::vector<std::function<void()>> stop_waiters;  // async_stop callbacks; guarded by `control`

  // A gateway::client's server: its listeners only route the host's calls
  // (by port and Host) and are never bound.
  bool unbound = false;

  std::mutex evaluation_mutex;
  std::unique_ptr<evaluator> evaluation;  // made by the first evaluate()
};

}  // namespace gateway
