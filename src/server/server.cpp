// The server's public face: start, stop, reload, stats, evaluate; the state
// is server::impl (server_impl.hpp).
#include "server/server_impl.hpp"

#include <fmt/format.h>
#include <sys/resource.h>

#include "admin/dashboard.hpp"

namespace gateway {

server::server(gateway_config config, server_options options) : impl_(std::make_unique<impl>()) {
  const overload_options& o = options.overload;
  if ((o.heap_soft && o.heap_hard && o.heap_soft > o.heap_hard) ||
      (o.descriptors_soft && o.descriptors_hard && o.descriptors_soft > o.descriptors_hard) ||
      o.interval.count() <= 0)
    throw error(errc::invalid_config,
                "server_options.overload: a soft threshold above its hard one, or an interval "
                "that is not > 0");
  impl_->options = std::move(options);
  impl_->shared.log = logger(impl_->options.level, impl_->options.sink);
  if (const auto& al = impl_->options.access_log; !al.path.empty()) {
    impl_->shared.access_format = std::make_unique<access_log_format>(al.format);
    impl_->shared.access_log = std::make_unique<access_log_writer>(al.path);
  }
  for (const auto& w : config.warnings)
    impl_->shared.log.log(log_level::warn, "config: {}", w);
  impl_->config_json = to_json(config);
  impl_->served = config;
  auto snap = snapshot::build(std::move(config));
  impl_->served_marks = impl::mark_files(*snap);
  impl_->log_tls_warnings(*snap);
  snap->inherit_identities(nullptr, impl_->next_identity);
  snap->assign_series(impl_->series);
  impl_->publish(std::move(snap));
}

server::~server() {
  try {
    stop(std::chrono::seconds(1));
  } catch (...) {
    // A destructor must not throw; stop() only throws on misuse.
  }
}

void server::start() {
  impl_->start(*this, nullptr);
}

void server::impl::start(server& owner, asio::io_context* host_context) {
  std::lock_guard lock(control);
  if (current != state::created)
    throw error(errc::invalid_state, "server::start: already started or stopped");
  host = host_context;
  started_at = static_cast<std::int64_t>(std::time(nullptr));
  unsigned n = host ? 1 : options.threads;
  if (n == 0) n = usable_cpus();
  shared.max_connections_per_worker = options.limits.max_connections;
  if (shared.max_connections_per_worker == 0) {
    struct rlimit files {};
    const std::size_t open_files =
        ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
            ? static_cast<std::size_t>(files.rlim_cur)
            : 1u << 20;
    shared.max_connections_per_worker =
        std::max<std::size_t>(16, (open_files > 128 ? open_files - 64 : open_files / 2) / 2 / n);
  }
  shared.max_streams_per_worker = options.limits.max_streams;
  overload =
      std::make_unique<overload_monitor>(options.overload, shared.log, shared.overload, host);
  for (unsigned i = 0; i < n; ++i)
    workers.push_back(std::make_unique<worker>(shared, i, host));

  auto snap = shared.current.load();
  std::vector<std::vector<std::shared_ptr<listen_socket>>> sockets(n);
  for (const auto& g : snap->groups)
    if (!unbound) bound.push_back(open_everywhere(*snap, g, sockets));
  for (unsigned i = 0; i < n; ++i)
    for (auto& socket : sockets[i])
      workers[i]->add_listener(std::move(socket));
  if (const auto& a = options.admin) {
    admin = std::make_unique<admin_server>(
        a->address, a->port,
        [this, &owner](std::string_view method, std::string_view path, std::string_view body) {
          return admin_request(owner, method, path, body);
        });
    shared.log.log(log_level::info, "admin listener on {}:{}", a->address, admin->port());
  }
  sync_monitor(*snap);
  for (auto& w : workers)
    w->start();
  sync_tracer(*snap);
  current = state::running;
  watch_if_needed(*snap);
}

void server::start(unsigned threads) {
  {
    std::lock_guard lock(impl_->control);
    if (impl_->current == impl::state::created) impl_->options.threads = threads;
  }
  start();
}

void server::impl::check_files() {
  file_marks now = mark_files(*shared.current.load());
  {
    std::lock_guard lock(watch_mutex);
    if (watch_stop || now == checked_marks) return;
    // A reload under way (mounted) reads the files itself; this is seen again
    // at the next check if they changed once more.
    if (file_reload.joinable()) {
      if (!reload_done) return;
      file_reload.join();
    }
    // Marked before trying, so a rejected file is retried when it changes again.
    checked_marks = std::move(now);
    if (host) {  // not on the loop: the reload compiles the whole config
      reload_done = false;
      file_reload = std::thread([this] { reload_changed_files(); });
      return;
    }
  }
  reload_changed_files();
}

void server::impl::reload_changed_files() {
  {
    std::lock_guard lock(control);
    if (current == state::running && served) {
      try {
        reload(*served);
        record_reload(true);
        shared.log.log(log_level::info, "TLS: certificate files changed: reloaded");
        std::lock_guard watch(watch_mutex);
        checked_marks = served_marks;  // what this reload read
      } catch (const std::exception& e) {
        record_reload(false, std::string("certificate files changed: ") + e.what());
        shared.log.log(log_level::error,
                       "TLS: certificate files changed but the config with them is rejected (the "
                       "previous certificates keep serving): {}",
                       e.what());
      }
    }
  }
  std::lock_guard watch(watch_mutex);
  reload_done = true;
}

void server::stop(std::chrono::milliseconds drain) {
  // The state first: a host may destroy its loop once the gateway has stopped.
  if (impl_->current == impl::state::running && impl_->host &&
      impl_->host->get_executor().running_in_this_thread())
    throw error(errc::invalid_state,
                "server::stop: called on the io_context the gateway is mounted on, which would "
                "wait for itself; use gateway::async_stop there");
  // The admin thread first, without holding `control`: a scrape or reload it
  // is running takes `control` itself and must be able to finish.
  std::unique_ptr<admin_server> admin;
  {
    std::lock_guard lock(impl_->control);
    admin = std::move(impl_->admin);
  }
  admin.reset();
  impl_->stop_watching();
  std::unique_lock lock(impl_->control);
  if (impl_->current != impl::state::running) {
    impl_->current = impl::state::stopped;
    return;
  }
  auto until = std::chrono::steady_clock::now() + drain;
  for (auto& w : impl_->workers)
    w->begin_drain();
  impl_->wait_for_connections(until);
  if (impl_->shared.connections.load() > 0) {
    impl_->shared.log.log(log_level::warn,
                          "stop: closing {} connections still busy after the drain deadline",
                          impl_->shared.connections.load());
    for (auto& w : impl_->workers)
      w->close_all();
    impl_->wait_for_connections(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  impl_->tracer.reset();  // sends the last spans while the workers can still hand them over
  for (auto& w : impl_->workers)
    w->join();
  impl_->workers.clear();
  impl_->monitor.reset();
  impl_->overload.reset();
  impl_->current = impl::state::stopped;
  lock.unlock();
  impl_->stop_watching();  // a watcher a reload started while this stop began
  impl_->stopped_cv.notify_all();
}

void server::impl::reload(gateway_config config) {
  if (current == state::stopped) throw error(errc::invalid_state, "server::reload: server stopped");
  std::vector<std::string> warnings = config.warnings;
  std::string json = to_json(config);
  std::optional<gateway_config> source = config;
  // Everything that can fail happens before anything is published.
  auto next = snapshot::build(std::move(config));
  file_marks next_marks = mark_files(*next);
  auto previous = shared.current.load();
  next->inherit_identities(previous.get(), next_identity);
  next->assign_series(series);

  std::vector<bound_group> now_bound;
  std::vector<std::uint32_t> closed, removed;
  std::vector<std::vector<std::shared_ptr<listen_socket>>> opened(workers.size());
  if (current == state::running && !unbound) {
    // A group that asks for exactly where an old one is bound (an ephemeral
    // port now named, or listeners regrouped) takes over its sockets: closing
    // a listening socket resets the connections still in its accept queue.
    for (auto& g : next->groups) {
      if (g.bind_port == 0 || previous->find_group(g.id)) continue;
      tcp::endpoint requested(asio::ip::make_address(g.bind_address), g.bind_port);
      for (const auto& b : bound) {
        bool taken = std::any_of(next->groups.begin(), next->groups.end(),
                                 [&](const socket_group& o) { return o.id == b.id; });
        if (!taken && tcp::endpoint(b.requested.address(), b.port) == requested) g.id = b.id;
      }
    }
    for (const auto& g : next->groups) {
      tcp::endpoint requested(asio::ip::make_address(g.bind_address), g.bind_port);
      auto old = std::find_if(bound.begin(), bound.end(),
                              [&](const bound_group& b) { return b.id == g.id; });
      if (old != bound.end() && (old->requested == requested ||
                                 tcp::endpoint(old->requested.address(), old->port) == requested)) {
        now_bound.push_back(*old);  // same sockets: nothing is dropped
        now_bound.back().key = g.key;
        now_bound.back().requested = requested;
        now_bound.back().listeners = member_names(*next, g);
        continue;
      }
      if (old != bound.end()) closed.push_back(g.id);
      now_bound.push_back(open_everywhere(*next, g, opened));  // on failure `opened` closes
    }
    for (const auto& b : bound)
      if (!next->find_group(b.id)) {
        closed.push_back(b.id);
        removed.push_back(b.id);
        shared.log.log(log_level::info, "no listener uses {} any more: closed", b.key);
      }
  }

  std::size_t kept = 0;
  for (const auto& c : next->clusters)
    for (const auto& p : previous->clusters)
      if (p.key == c.key) ++kept;
  const std::size_t clusters = next->clusters.size();
  if (current == state::running) {
    sync_monitor(*next);
    sync_tracer(*next);
  }
  log_tls_warnings(*next);
  publish(std::move(next));
  served_marks = std::move(next_marks);
  watch_if_needed(*shared.current.load());
  config_json = std::move(json);
  served = std::move(source);
  if (current == state::running) {
    std::vector<std::future<void>> applied;
    for (std::size_t w = 0; w < workers.size(); ++w)
      applied.push_back(workers[w]->reload(closed, removed, std::move(opened[w])));
    bound = std::move(now_bound);
    // Removed listeners are closed (their ports free) when reload returns; a
    // worker stuck past the deadline is reported, not waited for.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (auto& a : applied)
      if (a.wait_until(until) != std::future_status::ready)
        shared.log.log(log_level::warn, "reload: a worker has not applied the new listeners yet");
  }
  for (const auto& w : warnings)
    shared.log.log(log_level::warn, "config: {}", w);
  shared.log.log(log_level::info,
                 "config version {} active ({} of {} clusters unchanged, their pools kept)",
                 shared.version.load(), kept, clusters);
}

void server::impl::record_reload(bool ok, std::string error) {
  (ok ? reloads_ok : reloads_failed).fetch_add(1, std::memory_order_relaxed);
  last_reload.tried = true;
  last_reload.ok = ok;
  last_reload.at = static_cast<std::int64_t>(std::time(nullptr));
  last_reload.error = std::move(error);
}

void server::reload(gateway_config config) {
  reload_from([&config] { return std::move(config); });
}

void server::reload_from(const std::function<gateway_config()>& source) {
  std::lock_guard lock(impl_->control);
  try {
    impl_->reload(source());
    impl_->record_reload(true);
  } catch (const std::exception& e) {
    impl_->record_reload(false, e.what());
    throw;
  } catch (...) {
    impl_->record_reload(false, "unknown error");
    throw;
  }
}

void server::impl::collect_spans(std::vector<tracing::trace_exporter::span_batch>& out) {
  // A worker's spans are taken on its thread. One that does not answer in
  // time is let off: `claim` says whether the take ran (1) or was given up
  // (2), so spans are never taken and then lost.
  struct ask {
    std::atomic<int> claim{0};
    std::promise<tracing::trace_exporter::span_batch> taken;
  };
  std::vector<std::shared_ptr<ask>> asked;
  for (auto& w : workers) {
    auto a = std::make_shared<ask>();
    asked.push_back(a);
    worker* target = w.get();
    asio::dispatch(w->context(), [a, target] {
      int expected = 0;
      if (!a->claim.compare_exchange_strong(expected, 1)) return;
      tracing::trace_exporter::span_batch b;
      b.count = target->take_spans(b.json);
      a->taken.set_value(std::move(b));
    });
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (auto& a : asked) {
    auto f = a->taken.get_future();
    if (f.wait_until(until) != std::future_status::ready) {
      int expected = 0;
      if (a->claim.compare_exchange_strong(expected, 2)) continue;  // not started: skipped
      f.wait();  // started just now: it ends at once
    }
    tracing::trace_exporter::span_batch b = f.get();
    if (b.count) out.push_back(std::move(b));
  }
}

std::string server::impl::stats_text() {
  // Each worker copies its own counters on its own thread; the copies are
  // summed here. A worker that does not answer in time is left out (and
  // the gateway_workers gauge says so) rather than stalling the scrape.
  std::vector<std::shared_ptr<std::promise<worker_report>>> asked;
  for (auto& w : workers) {
    auto promise = std::make_shared<std::promise<worker_report>>();
    asked.push_back(promise);
    worker* target = w.get();
    // Inline when asked on the worker's own loop (a mounted gateway's host).
    asio::dispatch(w->context(), [promise, target] { promise->set_value(target->report()); });
  }
  worker_report total;
  std::uint64_t reporting = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (auto& p : asked) {
    auto f = p->get_future();
    if (f.wait_until(until) != std::future_status::ready) continue;
    worker_report r = f.get();
    if (total.series.size() < r.series.size()) total.series.resize(r.series.size());
    for (std::size_t i = 0; i < r.series.size(); ++i)
      total.series[i].add(r.series[i]);
    total.counters.add(r.counters);
    if (total.filter_counts.size() < r.filter_counts.size())
      total.filter_counts.resize(r.filter_counts.size());
    for (std::size_t i = 0; i < r.filter_counts.size(); ++i)
      total.filter_counts[i] += r.filter_counts[i];
    ++reporting;
  }
  // The server's own fixed families.
  using metrics::slot;
  metrics::block& c = total.counters;
  c.set(slot("gateway_workers", "running"), workers.size());
  c.set(slot("gateway_workers", "reporting"), reporting);
  c.set(slot("gateway_downstream_connections"), shared.connections.load());
  c.set(slot("gateway_config_version"), shared.version.load());
  c.set(slot("gateway_config_reloads_total", "ok"), reloads_ok.load());
  c.set(slot("gateway_config_reloads_total", "failed"), reloads_failed.load());
  c.set(slot("gateway_config_last_reload_successful"), !last_reload.tried || last_reload.ok);
  c.set(slot("gateway_config_last_reload_timestamp_seconds"),
        static_cast<std::uint64_t>(std::max<std::int64_t>(last_reload.at, 0)));
  c.set(slot("gateway_start_time_seconds"), static_cast<std::uint64_t>(started_at));
  if (tracer) {
    c.set(slot("gateway_tracing_spans_total", "exported"), tracer->exported());
    c.set(slot("gateway_tracing_spans_total", "failed"), tracer->failed());
  }
  if (overload) {
    c.set(slot("gateway_overload_state"), static_cast<std::uint64_t>(shared.overload.load()));
    const resource_sample s = overload->last();
    c.set(slot("gateway_overload_resource", "heap_bytes"), s.heap);
    c.set(slot("gateway_overload_resource", "descriptors"), s.descriptors);
    constexpr std::size_t levels =
        metrics::value_count(metrics::find("gateway_overload_transitions_total").values);
    for (std::size_t i = 0; i < levels; ++i)
      c.set(slot("gateway_overload_transitions_total", "normal") + i,
            overload->transitions(static_cast<overload_level>(i)));
  }
  const std::shared_ptr<const snapshot> snap = shared.current.load();
  std::string text =
      prometheus_text(series.labels(), total, [&](const metrics::family& f, std::string& out) {
        switch (f.rows_by) {
          case metrics::owner::upstream:
            upstream_rows(f, out, *snap);
            break;
          case metrics::owner::certificates:
            certificate_rows(f, out, *snap);
            break;
          case metrics::owner::waf:
            waf::metric_rows(f, out);  // the process's counters, as its pool is
            break;
          case metrics::owner::filters:
            filter_rows(f, out, total.filter_counts);
            break;
          case metrics::owner::none:
            break;
        }
      });
  return text;
}

std::string server::stats_text() const {
  std::lock_guard lock(impl_->control);
  if (impl_->current != impl::state::running)
    throw error(errc::invalid_state, "server::stats_text: server not running");
  return impl_->stats_text();
}

void async_stop(server& srv, std::chrono::milliseconds drain, std::function<void()> done) {
  server::impl& i = *srv.impl_;
  std::lock_guard lock(i.control);
  if (!i.host)
    throw error(errc::invalid_state, "async_stop: the gateway is not mounted (start_on)");
  if (i.current != server::impl::state::running) {  // stopped already: just call back
    asio::post(*i.host, std::move(done));
    return;
  }
  // A second call while the drain runs waits for the same end.
  i.stop_waiters.push_back(std::move(done));
  // Posted, never started here: called from a handler on the host's loop (a
  // timer, a signal), co_spawn would run the drain inline, and the drain takes
  // `control`, which this call holds.
  if (i.stop_waiters.size() == 1)
    asio::post(*i.host,
               [&i, drain] { asio::co_spawn(*i.host, i.drain_mounted(drain), asio::detached); });
}

asio::awaitable<void> server::impl::drain_mounted(std::chrono::milliseconds drain) {
  std::unique_ptr<admin_server> stopping_admin;
  {
    std::lock_guard lock(control);
    stopping_admin = std::move(admin);
  }
  stopping_admin.reset();
  stop_watching();
  for (auto& w : workers)
    w->begin_drain();
  asio::steady_timer tick(*host);
  auto busy = [&] {
    if (shared.connections.load(std::memory_order_acquire) > 0) return true;
    for (auto& w : workers)
      if (w->loops() > 0) return true;
    return false;
  };
  const auto until = std::chrono::steady_clock::now() + drain;
  bool forced = false;
  while (busy()) {
    if (!forced && std::chrono::steady_clock::now() >= until) {
      forced = true;
      shared.log.log(log_level::warn,
                     "stop: closing {} connections still busy after the drain deadline",
                     shared.connections.load());
      for (auto& w : workers)
        w->close_all();
    }
    if (forced && std::chrono::steady_clock::now() >= until + std::chrono::seconds(1)) break;
    tick.expires_after(std::chrono::milliseconds(2));
    co_await tick.async_wait(use_tuple);
  }
  {
    std::lock_guard lock(control);
    if (tracer) {  // on the worker's own loop: its last spans are taken here
      std::vector<tracing::trace_exporter::span_batch> last;
      for (auto& w : workers) {
        last.emplace_back();
        last.back().count = w->take_spans(last.back().json);
      }
      tracer->hand_over(std::move(last));
      tracer.reset();
    }
    monitor.reset();
    overload.reset();
    current = state::stopped;
  }
  stopped_cv.notify_all();
  for (auto& w : workers)
    w->flush_access_log();
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(control);
    waiters.swap(stop_waiters);
  }
  for (auto& done : waiters)
    done();
}

std::string server::config_json() const {
  std::lock_guard lock(impl_->control);
  return impl_->config_json;
}

std::uint16_t server::admin_port() const {
  std::lock_guard lock(impl_->control);
  if (!impl_->admin) throw error(errc::not_found, "server has no admin listener");
  return impl_->admin->port();
}

void server::reopen_logs() {
  if (impl_->shared.access_log) impl_->shared.access_log->reopen();
  waf::match_log::reopen_all();
}

admin_response server::impl::admin_request(server& owner, std::string_view method,
                                           std::string_view path, std::string_view) {
  constexpr const char* json = "application/json";
  auto only = [&](std::string_view allowed) -> std::optional<admin_response> {
    if (method == allowed || (allowed == "GET" && method == "HEAD")) return std::nullopt;
    return admin_response{405, "text/plain; charset=utf-8",
                          "use " + std::string(allowed) + " for " + std::string(path) + "\n"};
  };
  if (path == "/live") {
    if (auto r = only("GET")) return *r;
    return {200, "text/plain; charset=utf-8", "live\n"};
  }
  if (path == "/ready") {
    if (auto r = only("GET")) return *r;
    std::lock_guard lock(control);
    bool ready = current == state::running;
    return {ready ? 200 : 503, "text/plain; charset=utf-8", ready ? "ready\n" : "not ready\n"};
  }
  if (path == "/config") {
    if (auto r = only("GET")) return *r;
    return {200, json, owner.config_json()};
  }
  if (path == "/" || path == "/dashboard") {
    if (auto r = only("GET")) return *r;
    return {200, "text/html; charset=utf-8", std::string(dashboard_page())};
  }
  if (path == "/status") {
    if (auto r = only("GET")) return *r;
    std::string out;
    json_writer w(out);
    std::lock_guard lock(control);
    w.begin_object()
        .field("version", owner.config_version())
        .field("workers", static_cast<std::uint64_t>(workers.size()))
        .field("started_at", started_at)
        .field("now", static_cast<std::int64_t>(std::time(nullptr)))
        .key("last_reload");
    if (!last_reload.tried) {
      w.null();
    } else {
      w.begin_object().field("ok", last_reload.ok).field("at", last_reload.at);
      if (!last_reload.ok) w.field("error", last_reload.error);
      w.end_object();
    }
    w.end_object();
    out.push_back('\n');
    return {200, json, out};
  }
  if (path == "/stats/prometheus") {
    if (auto r = only("GET")) return *r;
    return {200, "text/plain; version=0.0.4; charset=utf-8", owner.stats_text()};
  }
  if (path == "/reload") {
    if (auto r = only("POST")) return *r;
    if (!options.config_source)
      return {501, "text/plain; charset=utf-8", "this gateway has no config source to reload\n"};
    std::string out;
    json_writer w(out);
    try {
      owner.reload_from(options.config_source);
      w.begin_object()
          .field("reloaded", true)
          .field("version", owner.config_version())
          .end_object();
      out.push_back('\n');
      return {200, json, out};
    } catch (const std::exception& e) {
      w.begin_object()
          .field("reloaded", false)
          .field("version", owner.config_version())
          .field("error", e.what())
          .end_object();
      out.push_back('\n');
      return {400, json, out};
    }
  }
  return {404, "text/plain; charset=utf-8",
          "admin paths: / (the dashboard) /live /ready /status /config /reload (POST) "
          "/stats/prometheus\n"};
}

void server::reload(gateway_config config, std::error_code& ec, std::string& message) noexcept {
  ec.clear();
  message.clear();
  try {
    reload(std::move(config));
  } catch (const error& e) {
    ec = e.code();
    message = e.what();
  } catch (const std::exception& e) {
    ec = make_error_code(errc::invalid_config);
    message = e.what();
  }
}

std::uint64_t server::config_version() const noexcept {
  return impl_->shared.version.load(std::memory_order_acquire);
}

void server::wait() {
  std::unique_lock lock(impl_->control);
  impl_->stopped_cv.wait(lock, [&] { return impl_->current != impl::state::running; });
}

evaluation_result server::evaluate(const evaluation_request& request) const {
  evaluator* e;
  {
    std::lock_guard lock(impl_->evaluation_mutex);
    if (!impl_->evaluation) impl_->evaluation = std::make_unique<evaluator>(impl_->shared.log);
    e = impl_->evaluation.get();
  }
  return e->run(impl_->shared.current.load(), request);
}

std::uint16_t server::port(std::string_view listener_name) const {
  std::lock_guard lock(impl_->control);
  for (const auto& b : impl_->bound)
    for (const auto& name : b.listeners)
      if (name == listener_name) return b.port;
  throw error(errc::not_found, fmt::format("no listener named '{}'", listener_name));
}

std::uint16_t server::port() const {
  std::lock_guard lock(impl_->control);
  if (impl_->bound.empty()) throw error(errc::not_found, "server has no bound listener");
  return impl_->bound.front().port;
}

}  // namespace gateway
