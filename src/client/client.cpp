// gateway::client's public face: a server whose listeners only route (never
// bound) runs the calls; each call is posted to one of its workers, where a
// host_call serves it through the pipeline.
#include <gateway/client.hpp>
#include <gateway/error.hpp>
#include <gateway/http.hpp>
#include <gateway/server.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "server/host_call.hpp"
#include "server/host_server.hpp"

namespace gateway {

std::string_view client_response::header(std::string_view name) const noexcept {
  for (const auto& [n, v] : headers)
    if (http::iequals(n, name)) return v;
  return {};
}

struct client::impl : host_server {
  using host_server::host_server;
};

client::client(gateway_config config, client_options options) {
  server_options so;
  so.threads = options.threads;
  so.level = options.level;
  so.sink = std::move(options.sink);
  impl_ = std::make_shared<impl>(std::move(config), std::move(so), options.context);
}

client::~client() {
  try {
    close();
  } catch (...) {
    // close() throws only when called on the mounted loop's thread; the
    // server's own destructor then ends what it can.
  }
}

namespace {

// The socket group of `snap` that routes calls to `port`, or null.
const socket_group* group_for(const snapshot& snap, std::uint16_t port) {
  for (const auto& g : snap.groups)
    for (std::size_t i : g.members)
      if (snap.listeners[i].config.port == port) return &g;
  return nullptr;
}

}  // namespace

void client::async_send(client_request request, std::function<void(client_result)> done) {
  host_server::hand_off held(*impl_);
  worker& w = impl_->next_worker("client");
  client_result refused;
  parsed_url url;
  try {
    url = parse_url(request.url, "client");
    if (!url.absolute)
      throw error(errc::invalid_argument,
                  "client: the URL must be absolute (http://SERVICE.NAMESPACE[:PORT]/path)");
  } catch (const error& e) {
    refused = {make_error_code(errc::invalid_argument), e.what(), {}};
  }
  w.post([&w, request = std::move(request), url = std::move(url), done = std::move(done),
          refused = std::move(refused)]() mutable {
    if (refused.error) {
      done(std::move(refused));
      return;
    }
    const std::shared_ptr<const snapshot>& snap = w.current_snapshot();
    const socket_group* group = group_for(*snap, url.port);
    if (!group) {
      done({make_error_code(errc::not_found),
            "client: no target on port " + std::to_string(url.port) + " (for " + url.authority +
                "); the client knows " + known_targets(*snap),
            {}});
      return;
    }
    auto call =
        std::make_shared<host_call>(w, snap, *group, std::move(request), url, "", std::move(done));
    call->start();
  });
}

client_response client::send(client_request request) {
  if (impl_->on_host_loop())
    throw error(errc::invalid_state,
                "client::send: called on the io_context the client is mounted on, which would "
                "wait for itself; use async_send there");
  auto result = std::make_shared<std::promise<client_result>>();
  std::future<client_result> ready = result->get_future();
  async_send(std::move(request), [result](client_result r) { result->set_value(std::move(r)); });
  client_result r = ready.get();
  if (r.error) throw error(static_cast<errc>(r.error.value()), r.message);
  return std::move(r.response);
}

void client::reload(gateway_config config) {
  impl_->reload(std::move(config), "client");
}

std::string client::stats_text() const {
  return impl_->stats_text("client");
}

void client::close() {
  impl_->close();
}

}  // namespace gateway
