// The server under gateway::client and gateway::middleware (host_server.hpp).
#include "server/host_server.hpp"

#include <gateway/asio.hpp>
#include <gateway/error.hpp>

#include <fmt/format.h>
#include <thread>

#include "server/server_impl.hpp"

namespace gateway {

namespace {
server_options unbound(server_options o) {
  o.certificate_check_interval = std::chrono::milliseconds(0);  // no listener has certificates
  return o;
}
}  // namespace

host_server::host_server(gateway_config config, server_options options, asio::io_context* context)
    : srv_(std::move(config), unbound(std::move(options))), host_(context) {
  srv_.impl_->unbound = true;
  if (context)
    start_on(srv_, *context);
  else
    srv_.start();
}

worker& host_server::next_worker(const char* who) {
  if (closed_.load()) throw error(errc::invalid_state, fmt::format("{}: closed", who));
  auto& workers = srv_.impl_->workers;
  return *workers[next_.fetch_add(1, std::memory_order_relaxed) % workers.size()];
}

void host_server::reload(gateway_config config, const char* who) {
  if (closed_.load()) throw error(errc::invalid_state, fmt::format("{}::reload: closed", who));
  srv_.reload(std::move(config));
}

std::string host_server::stats_text(const char* who) const {
  if (closed_.load()) throw error(errc::invalid_state, fmt::format("{}::stats_text: closed", who));
  return srv_.stats_text();
}

void host_server::close() {
  std::lock_guard lock(closing_);
  closed_.store(true);
  while (entering_.load() > 0)  // hand-offs under way finish (they never wait)
    std::this_thread::yield();
  srv_.stop(std::chrono::milliseconds(0));
}

}  // namespace gateway
