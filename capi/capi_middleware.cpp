// The C ABI's middleware handle: gateway::middleware behind an opaque
// pointer, and an exchange handle per request (its forwarded request, the
// answer the middleware or the response side gave).
#include <gateway/middleware.hpp>

#include "capi_component.hpp"

struct gw_middleware
    : gateway::capi::started_component<gateway::middleware, gateway::middleware_options> {};

// gw_client_response is the response type both components hand out.

struct gw_exchange {
  gateway::middleware_exchange exchange;
  gw_client_response response;  // the reply, or the final response
  bool has_response = false;
};

namespace {

using gateway::capi::call_failed;
using gateway::capi::fail_on;
using gateway::capi::text;

const gateway::capi::error_slot* slot(const gw_middleware* m) noexcept {
  return m ? &m->errors : nullptr;
}

// A string of the forwarded request, or "" when the middleware replied.
const char* request_text(const gw_exchange* x, const std::string gateway::forwarded_request::*field,
                         size_t* length) {
  if (!x || x->exchange.replied()) {
    if (length) *length = 0;
    return "";
  }
  const std::string& s = x->exchange.request().*field;
  if (length) *length = s.size();
  return s.c_str();
}

}  // namespace

extern "C" {

gw_status gw_middleware_new(const gw_client_options* options, gw_middleware** out) {
  if (!out) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_middleware_new: out is NULL");
  *out = nullptr;
  return gateway::capi::guarded_on(nullptr, [&] {
    auto m = std::make_unique<gw_middleware>();
    if (gw_status st = gateway::capi::read_options(options, "gw_middleware_new", m->options))
      return st;
    *out = m.release();
    return GW_OK;
  });
}

void gw_middleware_free(gw_middleware* middleware) {
  gateway::capi::free_component(middleware);
}

const char* gw_middleware_errmsg(const gw_middleware* middleware) {
  return gateway::capi::errmsg_of(slot(middleware));
}

gw_status gw_middleware_load_yaml(gw_middleware* middleware, const char* yaml, size_t length) {
  if (!middleware || gateway::capi::bad_text(yaml, length))
    return call_failed(
        slot(middleware), GW_INVALID_ARGUMENT,
        "gw_middleware_load_yaml: middleware is NULL, or yaml is NULL with a length");
  return gateway::capi::load(
      *middleware, [&] { return gateway::load_yaml(text(yaml, length), "middleware.yaml"); });
}

gw_status gw_middleware_load_file(gw_middleware* middleware, const char* path) {
  if (!middleware || !path || !*path)
    return call_failed(slot(middleware), GW_INVALID_ARGUMENT,
                       "gw_middleware_load_file: middleware is NULL or path is empty");
  return gateway::capi::load(*middleware, [&] { return gateway::load_yaml_file(path); });
}

gw_status gw_middleware_handle(gw_middleware* middleware, const gw_request* request,
                               gw_exchange** exchange) {
  if (!middleware || !request || !exchange)
    return call_failed(slot(middleware), GW_INVALID_ARGUMENT,
                       "gw_middleware_handle: middleware, request or exchange is NULL");
  *exchange = nullptr;
  gw_status st;
  gateway::middleware* m =
      gateway::capi::running(*middleware, "gw_middleware_handle", "gw_middleware_load_yaml", st);
  if (!m) return st;
  gateway::capi::owned_request r;
  if ((st = gateway::capi::read_request(slot(middleware), request, "gw_middleware_handle", r)))
    return st;
  return gateway::capi::guarded_call(slot(middleware), [&] {
    gateway::middleware_request rq;
    rq.method = r.method.empty() ? std::string("GET") : std::move(r.method);
    rq.url = std::move(r.url);
    rq.headers = std::move(r.headers);
    rq.body = std::move(r.body);
    rq.client_ip = r.client_ip.empty() ? std::string("127.0.0.1") : std::move(r.client_ip);
    rq.listener = std::move(r.listener);
    auto x = std::make_unique<gw_exchange>();
    x->exchange = m->handle(std::move(rq));
    if (x->exchange.replied()) {
      x->response.response = x->exchange.response();
      x->has_response = true;
    }
    *exchange = x.release();
    return GW_OK;
  });
}

gw_status gw_middleware_stats(gw_middleware* middleware, char** text_out, size_t* length) {
  if (!middleware)
    return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_middleware_stats: middleware is NULL");
  return gateway::capi::stats(*middleware, "gw_middleware_stats", "gw_middleware_load_yaml",
                              text_out, length);
}

gw_status gw_middleware_close(gw_middleware* middleware) {
  if (!middleware)
    return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_middleware_close: middleware is NULL");
  return gateway::capi::close(*middleware);
}

int gw_exchange_replied(const gw_exchange* exchange) {
  return exchange && exchange->exchange.replied() ? 1 : 0;
}

const gw_client_response* gw_exchange_response(const gw_exchange* exchange) {
  return exchange && exchange->has_response ? &exchange->response : nullptr;
}

const char* gw_exchange_method(const gw_exchange* exchange, size_t* length) {
  return request_text(exchange, &gateway::forwarded_request::method, length);
}

const char* gw_exchange_target(const gw_exchange* exchange, size_t* length) {
  return request_text(exchange, &gateway::forwarded_request::target, length);
}

const char* gw_exchange_body(const gw_exchange* exchange, size_t* length) {
  return request_text(exchange, &gateway::forwarded_request::body, length);
}

size_t gw_exchange_header_count(const gw_exchange* exchange) {
  return exchange && !exchange->exchange.replied() ? exchange->exchange.request().headers.size()
                                                   : 0;
}

gw_status gw_exchange_header(const gw_exchange* exchange, size_t index, gw_header* out) {
  if (!exchange || !out)
    return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_exchange_header: exchange or out is NULL");
  const size_t count = gw_exchange_header_count(exchange);
  if (index >= count)
    return fail_on(nullptr, GW_NOT_FOUND,
                   "gw_exchange_header: index " + std::to_string(index) + " past the " +
                       std::to_string(count) + " fields");
  const auto& [name, value] = exchange->exchange.request().headers[index];
  *out = {name.data(), name.size(), value.data(), value.size()};
  return GW_OK;
}

gw_status gw_exchange_respond(gw_exchange* exchange, int status, const gw_header* headers,
                              size_t header_count, const char* body, size_t body_length) {
  if (!exchange || (!headers && header_count) || gateway::capi::bad_text(body, body_length))
    return fail_on(nullptr, GW_INVALID_ARGUMENT,
                   "gw_exchange_respond: exchange is NULL, or a NULL pointer with a length");
  if (status < 200 || status > 999)
    return fail_on(nullptr, GW_INVALID_ARGUMENT,
                   "gw_exchange_respond: status " + std::to_string(status) +
                       " is not a final status (200 to 999)");
  return gateway::capi::guarded_on(nullptr, [&] {
    gateway::middleware_response r;
    r.status = status;
    for (size_t i = 0; i < header_count; ++i) {
      const gw_header& h = headers[i];
      if (gateway::capi::bad_text(h.name, h.name_length) ||
          gateway::capi::bad_text(h.value, h.value_length) || !h.name_length)
        return fail_on(
            nullptr, GW_INVALID_ARGUMENT,
            "gw_exchange_respond: header " + std::to_string(i) + " has no name or a NULL pointer");
      r.headers.emplace_back(text(h.name, h.name_length), text(h.value, h.value_length));
    }
    r.body.assign(text(body, body_length));
    exchange->response.response = exchange->exchange.respond(std::move(r));
    exchange->has_response = true;
    return GW_OK;
  });
}

void gw_exchange_free(gw_exchange* exchange) {
  delete exchange;
}

}  // extern "C"
