// The C ABI's client handle: gateway::client behind an opaque pointer, its
// config loaded (and reloaded) from YAML, calls blocking or with a callback.
#include <gateway/client.hpp>

#include <atomic>
#include <cstring>

#include "capi_component.hpp"

struct gw_client : gateway::capi::started_component<gateway::client, gateway::client_options> {};

namespace {

using gateway::capi::bad_text;
using gateway::capi::call_failed;
using gateway::capi::fail_on;
using gateway::capi::guarded_call;
using gateway::capi::text;

const gateway::capi::error_slot* slot(const gw_client* c) noexcept {
  return c ? &c->errors : nullptr;
}

// The caller's request as a client_request; GW_OK or why not.
gw_status read_request(const gw_client* c, const gw_request* request, std::uint32_t timeout_ms,
                       const char* call, gateway::client_request& out) {
  gateway::capi::owned_request r;
  if (gw_status st = gateway::capi::read_request(slot(c), request, call, r)) return st;
  out.method = r.method.empty() ? std::string("GET") : std::move(r.method);
  out.url = std::move(r.url);
  out.body = std::move(r.body);
  out.headers = std::move(r.headers);
  out.timeout = std::chrono::milliseconds(timeout_ms);
  return GW_OK;
}

gateway::client* running_client(gw_client* c, const char* call, gw_status& st) {
  return gateway::capi::running(*c, call, "gw_client_load_yaml", st);
}

}  // namespace

extern "C" {

gw_status gw_client_new(const gw_client_options* options, gw_client** out) {
  if (!out) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_client_new: out is NULL");
  *out = nullptr;
  return gateway::capi::guarded_on(nullptr, [&] {
    auto c = std::make_unique<gw_client>();
    if (gw_status st = gateway::capi::read_options(options, "gw_client_new", c->options)) return st;
    *out = c.release();
    return GW_OK;
  });
}

void gw_client_free(gw_client* client) {
  gateway::capi::free_component(client);
}

const char* gw_client_errmsg(const gw_client* client) {
  return gateway::capi::errmsg_of(slot(client));
}

gw_status gw_client_load_yaml(gw_client* client, const char* yaml, size_t length) {
  if (!client || bad_text(yaml, length))
    return call_failed(slot(client), GW_INVALID_ARGUMENT,
                       "gw_client_load_yaml: client is NULL, or yaml is NULL with a length");
  return gateway::capi::load(
      *client, [&] { return gateway::load_client_yaml(text(yaml, length), "client.yaml"); });
}

gw_status gw_client_load_file(gw_client* client, const char* path) {
  if (!client || !path || !*path)
    return call_failed(slot(client), GW_INVALID_ARGUMENT,
                       "gw_client_load_file: client is NULL or path is empty");
  return gateway::capi::load(*client, [&] { return gateway::load_client_yaml_file(path); });
}

gw_status gw_client_send(gw_client* client, const gw_request* request, uint32_t timeout_ms,
                         gw_client_response** response) {
  if (!client || !request || !response)
    return call_failed(slot(client), GW_INVALID_ARGUMENT,
                       "gw_client_send: client, request or response is NULL");
  *response = nullptr;
  gw_status st;
  gateway::client* c = running_client(client, "gw_client_send", st);
  if (!c) return st;
  gateway::client_request rq;
  if ((st = read_request(client, request, timeout_ms, "gw_client_send", rq))) return st;
  return guarded_call(slot(client), [&] {
    auto out = std::make_unique<gw_client_response>();
    out->response = c->send(std::move(rq));
    *response = out.release();
    return GW_OK;
  });
}

gw_status gw_client_send_async(gw_client* client, const gw_request* request, uint32_t timeout_ms,
                               gw_client_done_fn done, void* user_data) {
  if (!client || !request || !done)
    return call_failed(slot(client), GW_INVALID_ARGUMENT,
                       "gw_client_send_async: client, request or done is NULL");
  gw_status st;
  gateway::client* c = running_client(client, "gw_client_send_async", st);
  if (!c) return st;
  gateway::client_request rq;
  if ((st = read_request(client, request, timeout_ms, "gw_client_send_async", rq))) return st;
  return guarded_call(slot(client), [&] {
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
  });
}

gw_status gw_client_stats(gw_client* client, char** text_out, size_t* length) {
  if (!client) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_client_stats: client is NULL");
  return gateway::capi::stats(*client, "gw_client_stats", "gw_client_load_yaml", text_out, length);
}

gw_status gw_client_close(gw_client* client) {
  if (!client) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_client_close: client is NULL");
  return gateway::capi::close(*client);
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
