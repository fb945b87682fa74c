#pragma once
// What the C handles of the host-facing components (gw_client,
// gw_middleware) share: a component started by the first load and
// reloaded by later ones, options read from gw_client_options, failures
// recorded for the handle and the calling thread, and a caller's gw_request
// read into owned fields.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <gateway/client.hpp>

#include "capi_internal.hpp"

// The response a client call or a middleware exchange hands out.
struct gw_client_response {
  gateway::client_response response;
};

namespace gateway::capi {

// "call: what", for a failure's message (built out of line: GCC 12 warns
// falsely about operator+ on strings inlined into these templates).
std::string said(const char* call, std::string_view what);

// A component (gateway::client, gateway::middleware) behind a C handle.
template <class Component, class Options>
struct started_component {
  Options options;
  std::mutex control;                        // guards load, close and free
  std::atomic<Component*> running{nullptr};  // set once, by the first load
  std::unique_ptr<Component> owned;
  error_slot errors;
};

// A failure of a call on `slot`'s handle, recorded there and as the calling
// thread's, so concurrent callers each read their own (errmsg(NULL)).
inline gw_status call_failed(const error_slot* slot, gw_status status,
                             std::string_view message) noexcept {
  fail_on(nullptr, status, message);
  return fail_on(slot, status, message);
}

// guarded_on whose failure is the calling thread's too (call_failed).
template <class Body>
gw_status guarded_call(const error_slot* slot, Body&& body) noexcept {
  return guarded_with(
      [slot](gw_status st, std::string_view message) { return call_failed(slot, st, message); },
      std::forward<Body>(body));
}

// Reads the caller's options (NULL: defaults) into `out`; GW_OK or why not.
template <class Options>
gw_status read_options(const gw_client_options* options, const char* call, Options& out) {
  gw_client_options o{};
  o.struct_size = sizeof o;
  std::string why;
  if (options && !read_sized(*options, o, "gw_client_options", why))
    return fail_on(nullptr, GW_INVALID_ARGUMENT, said(call, why));
  const int level = static_cast<int>(o.level);
  if (o.log && (level < GW_LOG_DEBUG || level > GW_LOG_OFF))
    return fail_on(nullptr, GW_INVALID_ARGUMENT, said(call, "level is not a gw_log_level"));
  out.threads = o.threads ? o.threads : 1;
  if (o.log) {
    out.level = static_cast<log_level>(level);
    out.sink = [fn = o.log, user = o.log_user_data](log_level l, std::string_view line) {
      fn(user, static_cast<gw_log_level>(l), line.data(), line.size());
    };
  }
  return GW_OK;
}

// Starts the component on the config `read` makes, or reloads it.
template <class Component, class Options>
gw_status load(started_component<Component, Options>& h,
               const std::function<gateway_config()>& read) {
  return guarded_call(&h.errors, [&] {
    std::lock_guard lock(h.control);
    gateway_config config = read();
    if (Component* running = h.running.load()) {
      running->reload(std::move(config));
      return GW_OK;
    }
    h.owned = std::make_unique<Component>(std::move(config), h.options);
    h.running.store(h.owned.get());
    return GW_OK;
  });
}

// The started component, or null with GW_INVALID_STATE in `st`.
template <class Component, class Options>
Component* running(started_component<Component, Options>& h, const char* call,
                   const char* load_call, gw_status& st) {
  Component* c = h.running.load();
  st = c ? GW_OK
         : call_failed(&h.errors, GW_INVALID_STATE,
                       said(call, "no config loaded (" + std::string(load_call) + ")"));
  return c;
}

template <class Component, class Options>
gw_status stats(started_component<Component, Options>& h, const char* call, const char* load_call,
                char** text_out, std::size_t* length) {
  if (!text_out) return call_failed(&h.errors, GW_INVALID_ARGUMENT, said(call, "text is NULL"));
  *text_out = nullptr;
  gw_status st;
  Component* c = running(h, call, load_call, st);
  if (!c) return st;
  return guarded_call(&h.errors, [&] { return give_text(c->stats_text(), text_out, length); });
}

template <class Component, class Options>
gw_status close(started_component<Component, Options>& h) {
  return guarded_call(&h.errors, [&] {
    std::lock_guard lock(h.control);
    if (h.owned) h.owned->close();
    return GW_OK;
  });
}

// Closes and frees a handle made with new.
template <class Handle>
void free_component(Handle* h) {
  if (!h) return;
  {
    std::lock_guard lock(h->control);
    h->running.store(nullptr);
  }
  delete h;
}

// A caller's request, owned.
struct owned_request {
  std::string method, url, body, client_ip, listener;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Reads `request` into `out`; GW_OK, or why not recorded on `slot`.
gw_status read_request(const error_slot* slot, const gw_request* request, const char* call,
                       owned_request& out);

}  // namespace gateway::capi
