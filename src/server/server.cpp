#include <gateway/error.hpp>
#include <gateway/server.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/worker.hpp"

namespace gateway {

struct server::impl {
  server_shared shared;
  server_options options;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<std::pair<std::string, std::uint16_t>> bound;  // listener name -> port
  std::mutex control;  // serializes start/stop; never taken by workers
  enum class state { created, running, stopped } current = state::created;
  std::condition_variable stopped_cv;

  void wait_for_connections(std::chrono::steady_clock::time_point until) {
    // Control-plane wait, bounded by `until`.
    while (shared.connections.load(std::memory_order_relaxed) > 0 &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
};

server::server(gateway_config config, server_options options) : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  impl_->shared.log = logger(impl_->options.level, impl_->options.sink);
  for (const auto& w : config.warnings)
    impl_->shared.log.log(log_level::warn, "config: ", w);
  impl_->shared.current.store(snapshot::build(std::move(config)));
  impl_->shared.version.store(1);
}

server::~server() {
  try {
    stop(std::chrono::seconds(1));
  } catch (...) {
    // A destructor must not throw; stop() only throws on misuse.
  }
}

void server::start() {
  std::lock_guard lock(impl_->control);
  if (impl_->current != impl::state::created)
    throw error(errc::invalid_state, "server::start: already started or stopped");
  unsigned n = impl_->options.threads;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i)
    impl_->workers.push_back(std::make_unique<worker>(impl_->shared, i));

  auto snap = impl_->shared.current.load();
  for (std::size_t l = 0; l < snap->listeners.size(); ++l) {
    const listener_config& lc = snap->listeners[l].config;
    tcp::endpoint where(asio::ip::make_address(lc.bind_address), lc.bind_port);
    // The first worker picks the port (which may be ephemeral); the others share it.
    for (auto& w : impl_->workers)
      where = w->listen(l, where);
    impl_->bound.emplace_back(lc.name, where.port());
    impl_->shared.log.log(log_level::info, "listener ", lc.name, " on ",
                          where.address().to_string(), ":", where.port(), " (", n,
                          n == 1 ? " worker)" : " workers)");
  }
  for (auto& w : impl_->workers)
    w->start();
  impl_->current = impl::state::running;
}

void server::stop(std::chrono::milliseconds drain) {
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
    impl_->shared.log.log(log_level::warn, "stop: closing ", impl_->shared.connections.load(),
                          " connections still busy after the drain deadline");
    for (auto& w : impl_->workers)
      w->close_all();
    impl_->wait_for_connections(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  for (auto& w : impl_->workers)
    w->join();
  impl_->workers.clear();
  impl_->current = impl::state::stopped;
  lock.unlock();
  impl_->stopped_cv.notify_all();
}

void server::wait() {
  std::unique_lock lock(impl_->control);
  impl_->stopped_cv.wait(lock, [&] { return impl_->current != impl::state::running; });
}

std::uint16_t server::port(std::string_view listener_name) const {
  std::lock_guard lock(impl_->control);
  for (const auto& [name, port] : impl_->bound)
    if (name == listener_name) return port;
  throw error(errc::not_found, "no listener named '" + std::string(listener_name) + "'");
}

std::uint16_t server::port() const {
  std::lock_guard lock(impl_->control);
  if (impl_->bound.empty()) throw error(errc::not_found, "server has no bound listener");
  return impl_->bound.front().second;
}

}  // namespace gateway
