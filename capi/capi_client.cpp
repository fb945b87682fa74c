// The C ABI's client handle: gateway::client behind an opaque pointer, its
// config loaded (and reloaded) from YAML, calls blocking or with a callback.
#include <gateway/client.hpp>

#include <atomic>
#include <cstring>

#include "capi_internal.hpp"

struct gw_client {
  gateway::client_options options;
  std::mutex control;                              // guards load, close and free
  std::atomic<gateway::client*> running{nullptr};  // set once by the first load
  std::unique_ptr<gateway::client> owned;
  gateway::capi::error_slot errors;
};

struct gw_client_response {
  gateway::client_response response;
};

namespace {

using gateway::capi::bad_text;
using gateway::capi::fail_on;
using gateway::capi::guarded_on;
using gateway::capi::text;

const gateway::capi::error_slot* slot(const gw_client* c) noexcept {
  return c ? &c->errors : nullptr;
}

// A call's failure: in the handle's slot and the calling thread's, so that
// concurrent callers each read their own with gw_client_errmsg(NULL).
gw_status call_failed(const gw_client* c, gw_status status, std::string_view message) noexcept {
  fail_on(nullptr, status, message);
  return fail_on(slot(c), status, message);
}

// guarded_on for a client call: a failure is the calling thread's too.
template <class Body>
gw_status guarded_call(const gw_client* c, Body&& body) noexcept {
  const gw_status st = guarded_on(slot(c), std::forward<Body>(body));
  if (st != GW_OK) fail_on(nullptr, st, gateway::capi::errmsg_of(slot(c)));
  return st;
}

gw_status load(gw_client* c, const std::function<gateway::gateway_config()>& read) {
  return guarded_call(c, [&] {
    std::lock_guard lock(c->control);
    gateway::gateway_config config = read();
    if (gateway::client* running = c->running.load()) {
      running->reload(std::move(config));
      return GW_OK;
    }
    c->owned = std::make_unique<gateway::client>(std::move(config), c->options);
    c->running.store(c->owned.get());
    return GW_OK;
  });
}

// The caller's request as a client_request; GW_OK or why not.
gw_status read_request(const gw_client* c, const gw_request* request, std::uint32_t timeout_ms,
                       const char* call, gateway::client_request& out) {
  gw_request r;
  std::string why;
  if (!gateway::capi::read_sized(*request, r, "gw_request", why))
    return call_failed(c, GW_INVALID_ARGUMENT, std::string(call) + ": " + why);
  if (bad_text(r.method, r.method_length) || bad_text(r.url, r.url_length) ||
      bad_text(r.body, r.body_length) || (!r.headers && r.header_count))
    return call_failed(c, GW_INVALID_ARGUMENT,
                       std::string(call) + ": a NULL pointer with a length");
  out.method.assign(text(r.method, r.method_length));
  if (out.method.empty()) out.method = "GET";
  out.url.assign(text(r.url, r.url_length));
  out.body.assign(text(r.body, r.body_length));
  out.timeout = std::chrono::milliseconds(timeout_ms);
  out.headers.reserve(r.header_count);
  for (std::size_t i = 0; i < r.header_count; ++i) {
    const gw_header& h = r.headers[i];
    if (bad_text(h.name, h.name_length) || bad_text(h.value, h.value_length) || !h.name_length)
      return call_failed(
          c, GW_INVALID_ARGUMENT,
          std::string(call) + ": header " + std::to_string(i) + " has no name or a NULL pointer");
    out.headers.emplace_back(text(h.name, h.name_length), text(h.value, h.value_length));
  }
  return GW_OK;
}

gateway::client* running_client(gw_client* c, const char* call, gw_status& st) {
  gateway::client* running = c->running.load();
  st = running ? GW_OK
               : call_failed(c, GW_INVALID_STATE,
                             std::string(call) + ": no client config loaded (gw_client_load_yaml)");
  return running;
}

}  // namespace

extern "C" {

gw_status gw_client_new(const gw_client_options* options, gw_client** out) {
  if (!out) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_client_new: out is NULL");
  *out = nullptr;
  return guarded_on(nullptr, [&] {
    gw_client_options o{};
    o.struct_size = sizeof o;
    std::string why;
    if (options && !gateway::capi::read_sized(*options, o, "gw_client_options", why))
      return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_client_new: " + why);
    const int level = static_cast<int>(o.level);
    if (o.log && (level < GW_LOG_DEBUG || level > GW_LOG_OFF))
      return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_client_new: level is not a gw_log_level");
    auto c = std::make_unique<gw_client>();
    c->options.threads = o.threads ? o.threads : 1;
    if (o.log) {
      c->options.level = static_cast<gateway::log_level>(level);
      c->options.sink = [fn = o.log, user = o.log_user_data](gateway::log_level l,
                                                             std::string_view line) {
        fn(user, static_cast<gw_log_level>(l), line.data(), line.size());
      };
    }
    *out = c.release();
    return GW_OK;
  });
}

void gw_client_free(gw_client* client) {
  if (!client) return;
  {
    std::lock_guard lock(client->control);
    client->running.store(nullptr);
  }
  delete client;
}

const char* gw_client_errmsg(const gw_client* client) {
  return gateway::capi::errmsg_of(slot(client));
}

gw_status gw_client_load_yaml(gw_client* client, const char* yaml, size_t length) {
  if (!client || bad_text(yaml, length))
    return call_failed(client, GW_INVALID_ARGUMENT,
                       "gw_client_load_yaml: client is NULL, or yaml is NULL with a length");
  return load(client, [&] { return gateway::load_client_yaml(text(yaml, length), "client.yaml"); });
}

gw_status gw_client_load_file(gw_client* client, const char* path) {
  if (!client || !path || !*path)
    return call_failed(client, GW_INVALID_ARGUMENT,
                       "gw_client_load_file: client is NULL or path is empty");
  return load(client, [&] { return gateway::load_client_yaml_file(path); });
}

gw_status gw_client_send(gw_client* client, const gw_request* request, uint32_t timeout_ms,
                         gw_client_response** response) {
  if (!client || !request || !response)
    return call_failed(client, GW_INVALID_ARGUMENT,
                       "gw_client_send: client, request or response is NULL");
  *response = nullptr;
  gw_status st;
  gateway::client* c = running_client(client, "gw_client_send", st);
  if (!c) return st;
  gateway::client_request rq;
  if ((st = read_request(client, request, timeout_ms, "gw_client_send", rq))) return st;
  try {
    auto out = std::make_unique<gw_client_response>();
    out->response = c->send(std::move(rq));
    *response = out.release();
    return GW_OK;
  } catch (const gateway::error& e) {
    return call_failed(client, gateway::capi::status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return call_failed(client, GW_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return call_failed(client, GW_ERROR, e.what());
  }
}

gw_status gw_client_send_async(gw_client* client, const gw_request* request, uint32_t timeout_ms,
                               gw_client_done_fn done, void* user_data) {
  if (!client || !request || !done)
    return call_failed(client, GW_INVALID_ARGUMENT,
                       "gw_client_send_async: client, request or done is NULL");
  gw_status st;
  gateway::client* c = running_client(client, "gw_client_send_async", st);
  if (!c) return st;
  gateway::client_request rq;
  if ((st = read_request(client, request, timeout_ms, "gw_client_send_async", rq))) return st;
  try {
    c->async_send(std::move(rq), [done, user_data](gateway::client_result r) {
      if (r.error) {
        done(user_data, gateway::capi::status_of(r.error), nullptr, r.message.c_str());
        return;
      }
      gw_client_response* out = nullptr;
      try {
        out = new gw_client_response{std::move(r.response)};
      } catch (const std::bad_alloc&) {
        done(user_data, GW_NO_MEMORY, nullptr, "out of memory");
        return;
      }
      done(user_data, GW_OK, out, "");
    });
    return GW_OK;
  } catch (const gateway::error& e) {
    return call_failed(client, gateway::capi::status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return call_failed(client, GW_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return call_failed(client, GW_ERROR, e.what());
  }
}

gw_status gw_client_stats(gw_client* client, char** text_out, size_t* length) {
  if (!client || !text_out)
    return call_failed(client, GW_INVALID_ARGUMENT, "gw_client_stats: client or text is NULL");
  *text_out = nullptr;
  gw_status st;
  gateway::client* c = running_client(client, "gw_client_stats", st);
  if (!c) return st;
  return guarded_call(client,
                      [&] { return gateway::capi::give_text(c->stats_text(), text_out, length); });
}

gw_status gw_client_close(gw_client* client) {
  if (!client) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_client_close: client is NULL");
  return guarded_call(client, [&] {
    std::lock_guard lock(client->control);
    if (client->owned) client->owned->close();
    return GW_OK;
  });
}

void gw_client_response_free(gw_client_response* response) {
  delete response;
}

int gw_client_response_status(const gw_client_response* response) {
  return response ? response->response.status : 0;
}

size_t gw_client_response_header_count(const gw_client_response* response) {
  return response ? response->response.headers.size() : 0;
}

gw_status gw_client_response_header(const gw_client_response* response, size_t index,
                                    gw_header* out) {
  if (!response || !out)
    return fail_on(nullptr, GW_INVALID_ARGUMENT,
                   "gw_client_response_header: response or out is NULL");
  if (index >= response->response.headers.size())
    return fail_on(nullptr, GW_NOT_FOUND,
                   "gw_client_response_header: index " + std::to_string(index) + " past the " +
                       std::to_string(response->response.headers.size()) + " fields");
  const auto& [name, value] = response->response.headers[index];
  *out = {name.data(), name.size(), value.data(), value.size()};
  return GW_OK;
}

const char* gw_client_response_body(const gw_client_response* response, size_t* length) {
  if (length) *length = response ? response->response.body.size() : 0;
  return response ? response->response.body.data() : "";
}

}  // extern "C"
