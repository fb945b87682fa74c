// gateway::middleware: a server whose listeners only route (never bound)
// runs each host request as a host_call whose upstream is the host's
// handler. The exchange's state lives on the request's worker thread: the
// host's respond() is posted there, so nothing in it needs a lock.
#include <gateway/error.hpp>
#include <gateway/http.hpp>
#include <gateway/middleware.hpp>

#include <atomic>
#include <future>
#include <thread>
#include <tuple>

#include "server/host_call.hpp"
#include "server/host_server.hpp"

namespace gateway {

std::string_view forwarded_request::header(std::string_view name) const noexcept {
  for (const auto& [n, v] : headers)
    if (http::iequals(n, name)) return v;
  return {};
}

struct middleware::impl : host_server {
  using host_server::host_server;
};

// An exchange's state: written on its worker's thread until the host gets
// the exchange, then read by the host; respond() goes back to that thread.
struct middleware_exchange::state {
  std::shared_ptr<middleware::impl> owner;
  worker* where = nullptr;
  std::weak_ptr<host_call> call;
  std::function<void(middleware_exchange, std::error_code, std::string)> decided;
  bool forwarded = false;
  bool replied = false;
  forwarded_request request;
  middleware_response response;  // the middleware's answer, or (blocking respond) the final one
  // The request's end, and who waits for it (worker thread only).
  bool ended = false;
  client_result end;
  std::function<void(client_result)> on_end;
  bool responded = false;  // host side
};

middleware::middleware(gateway_config config, middleware_options options) {
  server_options so;
  so.threads = options.threads;
  so.level = options.level;
  so.sink = std::move(options.sink);
  so.access_log = std::move(options.access_log);
  impl_ = std::make_shared<impl>(std::move(config), std::move(so), options.context);
}

middleware::~middleware() {
  try {
    close();
  } catch (...) {
    // Only on the mounted loop's own thread; the server's destructor ends what it can.
  }
}

void middleware::async_handle(
    middleware_request request,
    std::function<void(middleware_exchange, std::error_code, std::string)> done) {
  host_server::hand_off held(*impl_);
  worker& w = impl_->next_worker("middleware");
  auto st = std::make_shared<middleware_exchange::state>();
  st->owner = impl_;
  st->where = &w;
  st->decided = std::move(done);
  w.post([st, &w, request = std::move(request)]() mutable {
    auto refuse = [&](const error& e) {
      auto decided = std::move(st->decided);
      decided(middleware_exchange(), e.code(), e.what());
    };
    parsed_url url;
    const socket_group* group = nullptr;
    const std::shared_ptr<const snapshot>& snap = w.current_snapshot();
    try {
      url = parse_url(request.url, "middleware");
    } catch (const error& e) {
      refuse(error(errc::invalid_argument, e.what()));
      return;
    }
    try {
      group = find_group(*snap, url, request.listener, "middleware");
    } catch (const error& e) {
      refuse(e);
      return;
    }
    client_request call_request;
    call_request.method = std::move(request.method);
    call_request.url = std::move(request.url);
    call_request.headers = std::move(request.headers);
    call_request.body = std::move(request.body);
    auto ended = [st](client_result r) {
      if (!st->forwarded) {  // answered before the handler: the middleware's reply
        auto decided = std::move(st->decided);
        if (r.error) {
          decided(middleware_exchange(), r.error, std::move(r.message));
          return;
        }
        st->replied = true;
        st->response = std::move(r.response);
        decided(middleware_exchange(st), {}, {});
        return;
      }
      st->ended = true;
      st->end = std::move(r);
      if (st->on_end) std::exchange(st->on_end, nullptr)(std::move(st->end));
    };
    auto forward = [st](forwarded_request r) {
      st->forwarded = true;
      st->request = std::move(r);
      std::exchange(st->decided, nullptr)(middleware_exchange(st), {}, {});
    };
    auto call = std::make_shared<host_call>(w, snap, *group, std::move(call_request), url,
                                            std::move(request.client_ip), std::move(ended),
                                            std::move(forward));
    st->call = call;
    call->start();
  });
}

middleware_exchange middleware::handle(middleware_request request) {
  if (impl_->on_host_loop())
    throw error(errc::invalid_state,
                "middleware::handle: called on the io_context the middleware is mounted on, "
                "which would wait for itself; use async_handle there");
  using outcome = std::tuple<middleware_exchange, std::error_code, std::string>;
  auto result = std::make_shared<std::promise<outcome>>();
  std::future<outcome> ready = result->get_future();
  async_handle(std::move(request),
               [result](middleware_exchange ex, std::error_code ec, std::string message) {
                 result->set_value({std::move(ex), ec, std::move(message)});
               });
  auto [exchange, ec, message] = ready.get();
  if (ec) throw error(static_cast<errc>(ec.value()), message);
  return std::move(exchange);
}

void middleware::reload(gateway_config config) {
  impl_->reload(std::move(config), "middleware");
}

std::string middleware::stats_text() const {
  return impl_->stats_text("middleware");
}

void middleware::close() {
  impl_->close();
}

middleware_exchange& middleware_exchange::operator=(middleware_exchange&& other) noexcept {
  if (this != &other) {
    middleware_exchange dropped(std::move(*this));  // its destructor gives up a pending one
    state_ = std::move(other.state_);
  }
  return *this;
}

middleware_exchange::~middleware_exchange() {
  if (!state_ || !state_->forwarded || state_->responded) return;
  // The handler's response will not come: the request ends unanswered.
  auto st = state_;
  try {
    st->owner->post(*st->where, [st] {
      if (auto call = st->call.lock()) call->abandon();
    });
  } catch (...) {
    // Out of memory posting: the request ends at its timeout instead.
  }
}

bool middleware_exchange::replied() const noexcept {
  return state_ && state_->replied;
}

const middleware_response& middleware_exchange::response() const {
  if (!state_ || (!state_->replied && !state_->responded))
    throw error(errc::invalid_state,
                "middleware_exchange::response: the middleware did not reply; respond() first");
  return state_->response;
}

const forwarded_request& middleware_exchange::request() const {
  if (!state_ || !state_->forwarded)
    throw error(
        errc::invalid_state,
        "middleware_exchange::request: the middleware replied; nothing goes to the handler");
  return state_->request;
}

void middleware_exchange::async_respond(middleware_response handler_response,
                                        std::function<void(client_result)> done) {
  if (!state_ || !state_->forwarded)
    throw error(errc::invalid_state,
                "middleware_exchange::respond: the middleware replied; send its response instead");
  if (state_->responded)
    throw error(errc::invalid_state, "middleware_exchange::respond: responded already");
  state_->responded = true;
  auto st = state_;
  const bool posted = st->owner->post(
      *st->where, [st, r = std::move(handler_response), done = std::move(done)]() mutable {
        if (st->ended) {  // the request ended first (its timeout passed): that is its answer
          done(std::move(st->end));
          return;
        }
        st->on_end = std::move(done);
        if (auto call = st->call.lock())
          call->answer({r.status, std::move(r.headers), std::move(r.body)});
      });
  if (!posted) throw error(errc::invalid_state, "middleware: closed");
}

middleware_response middleware_exchange::respond(middleware_response handler_response) {
  if (state_ && state_->owner->on_host_loop())
    throw error(errc::invalid_state,
                "middleware_exchange::respond: called on the io_context the middleware is "
                "mounted on; use async_respond there");
  auto result = std::make_shared<std::promise<client_result>>();
  std::future<client_result> ready = result->get_future();
  async_respond(std::move(handler_response),
                [result](client_result r) { result->set_value(std::move(r)); });
  client_result r = ready.get();
  if (r.error) throw error(static_cast<errc>(r.error.value()), r.message);
  state_->response = r.response;
  return std::move(r.response);
}

}  // namespace gateway
