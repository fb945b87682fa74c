// Filters written in C: a filter_factory per Filter object (holding what the
// C configure callback made) and a filter per request that hands the C hooks
// a gw_stream, the C view of the filter_context. Misbehaving hooks (a status
// that is not one, a pause without a handle) end the request with a 500.
#include <fmt/format.h>
#include <cstring>
#include <new>
#include <stdexcept>

#include "capi_internal.hpp"

namespace gateway::capi {
namespace {

// A registered C filter type: the callback table (copied up to its
// struct_size, the rest left NULL) and the host's user_data.
struct c_filter_type {
  std::string name;
  gw_filter_callbacks cb{};
  void* user_data = nullptr;
  std::shared_ptr<liveness> alive;
};

class c_factory;

}  // namespace
}  // namespace gateway::capi

// The C view of one request for one C filter; lives in the request's arena.
struct gw_stream {
  gateway::filter_context* ctx = nullptr;
  gateway::body_chunk* chunk = nullptr;  // during on_response_body
  const gateway::capi::c_filter_type* type = nullptr;
  void* user_data = nullptr;  // gw_stream_set_user_data
  bool paused = false;        // a gw_pause was taken during this hook
  std::string route_name;     // "namespace/name", made on first read
  std::string body;           // gw_stream_set_body_chunk's bytes
};

// A pause handle: the request's resume_handle and the gateway's liveness.
struct gw_pause {
  gateway::resume_handle handle;
  std::shared_ptr<gateway::capi::liveness> alive;
};

namespace gateway::capi {
namespace {

class c_filter final : public filter {
 public:
  c_filter(const c_filter_type& type, void* config) : config_(config) { stream_.type = &type; }

  filter_status on_request(filter_context& ctx) override {
    return call(ctx, "on_request", [&](const gw_filter_callbacks& cb) {
      return cb.on_request(type().user_data, config_, &stream_);
    });
  }
  filter_status on_request_body(filter_context& ctx, std::string_view data, bool end) override {
    return call(ctx, "on_request_body", [&](const gw_filter_callbacks& cb) {
      return cb.on_request_body(type().user_data, config_, &stream_, data.data(), data.size(),
                                end ? 1 : 0);
    });
  }
  filter_status on_response(filter_context& ctx) override {
    return call(ctx, "on_response", [&](const gw_filter_callbacks& cb) {
      return cb.on_response(type().user_data, config_, &stream_);
    });
  }
  filter_status on_response_body(filter_context& ctx, body_chunk& chunk) override {
    stream_.chunk = &chunk;
    filter_status s = call(ctx, "on_response_body", [&](const gw_filter_callbacks& cb) {
      return cb.on_response_body(type().user_data, config_, &stream_, chunk.data.data(),
                                 chunk.data.size(), chunk.end_of_stream ? 1 : 0);
    });
    stream_.chunk = nullptr;
    return s;
  }
  filter_status on_response_trailers(filter_context& ctx) override {
    return call(ctx, "on_response_trailers", [&](const gw_filter_callbacks& cb) {
      return cb.on_response_trailers(type().user_data, config_, &stream_);
    });
  }
  filter_status on_resume(filter_context& ctx) override {
    if (!type().cb.on_resume) return filter_status::next;
    return call(ctx, "on_resume", [&](const gw_filter_callbacks& cb) {
      return cb.on_resume(type().user_data, config_, &stream_);
    });
  }
  void on_log(filter_context& ctx) noexcept override {
    if (!type().cb.on_done) return;
    stream_.ctx = &ctx;
    callback_scope inside;
    type().cb.on_done(type().user_data, config_, &stream_);
    stream_.ctx = nullptr;
  }

 private:
  const c_filter_type& type() const noexcept { return *stream_.type; }

  // Runs a C hook and checks what it returned; a throw becomes the chain's 500.
  template <class Hook>
  filter_status call(filter_context& ctx, const char* hook, Hook&& run) {
    stream_.ctx = &ctx;
    stream_.paused = false;
    int r;
    {
      callback_scope inside;
      r = run(type().cb);
    }
    stream_.ctx = nullptr;
    switch (r) {
      case GW_FILTER_CONTINUE:
        return filter_status::next;
      case GW_FILTER_STOP:
        return filter_status::stop;  // without a reply the chain answers 500
      case GW_FILTER_PAUSE:
        if (!stream_.paused)
          throw std::runtime_error(std::string(hook) +
                                   " returned GW_FILTER_PAUSE without taking a gw_pause "
                                   "(gw_stream_pause); nothing could resume it");
        return filter_status::pause;
      default:
        throw std::runtime_error(std::string(hook) + " returned " + std::to_string(r) +
                                 ", which is not a gw_filter_status");
    }
  }

  void* config_;
  gw_stream stream_;
};

std::uint8_t hooks_of(const gw_filter_callbacks& cb) noexcept {
  std::uint8_t h = 0;
  if (cb.on_request) h |= hook_request;
  if (cb.on_request_body) h |= hook_request_body;
  if (cb.on_response) h |= hook_response;
  if (cb.on_response_body) h |= hook_response_body;
  if (cb.on_done) h |= hook_log;
  if (cb.on_response_trailers) h |= hook_response_trailers;
  return h;
}

class c_factory final : public filter_factory {
 public:
  c_factory(std::shared_ptr<const c_filter_type> type, void* config)
      : type_(std::move(type)), config_(config), hooks_(hooks_of(type_->cb)) {}
  ~c_factory() override {
    if (type_->cb.release_config) {
      callback_scope inside;
      type_->cb.release_config(type_->user_data, config_);
    }
  }
  filter* create(filter_arena& arena) const override {
    return arena.make<c_filter>(*type_, config_);
  }
  std::uint8_t hooks() const noexcept override { return hooks_; }

 private:
  std::shared_ptr<const c_filter_type> type_;
  void* config_;
  std::uint8_t hooks_;
};

// `kind` by reference: its bytes are read as the integer (raw_value), never
// loaded as an enum a C caller may have set out of range.
header_map* headers_of(gw_stream* s, const gw_headers_kind& kind) noexcept {
  if (!s || !s->ctx) return nullptr;
  const auto k = raw_value(kind);
  if (k == GW_REQUEST_HEADERS) return &s->ctx->request_headers();
  if (k == GW_RESPONSE_HEADERS) return &s->ctx->response_headers();
  if (k == GW_RESPONSE_TRAILERS) return &s->ctx->response_trailers();
  return nullptr;
}

// Runs an accessor that may allocate (copies of header text).
template <class Body>
gw_status allocating(Body&& body) noexcept {
  try {
    body();
    return GW_OK;
  } catch (const std::bad_alloc&) {
    return GW_NO_MEMORY;
  } catch (...) {
    return GW_ERROR;
  }
}

}  // namespace

namespace {
// The context of the factory whose configure runs on this thread, for
// gw_filter_counter (configure's signature is fixed by the ABI).
thread_local filter_factory_context* configuring = nullptr;
}  // namespace

filter_factory_context_builder c_filter_builder(std::string name,
                                                const gw_filter_callbacks& callbacks,
                                                void* user_data, std::shared_ptr<liveness> alive) {
  auto type = std::make_shared<c_filter_type>();
  type->name = std::move(name);
  type->cb = callbacks;  // read_sized made it this library's size
  type->user_data = user_data;
  type->alive = std::move(alive);
  return [type = std::shared_ptr<const c_filter_type>(type)](
             std::string_view json,
             filter_factory_context& context) -> std::shared_ptr<const filter_factory> {
    void* config = nullptr;
    if (type->cb.configure) {
      char reason[512] = {0};
      int refused;
      {
        callback_scope inside;
        filter_factory_context* outer = std::exchange(configuring, &context);
        refused = type->cb.configure(type->user_data, json.data(), json.size(), &config, reason,
                                     sizeof reason - 1);
        configuring = outer;
      }
      if (refused) {
        reason[sizeof reason - 1] = '\0';
        throw error(errc::invalid_config,
                    fmt::format("filter '{}' refused its config{}", type->name,
                                (reason[0] ? std::string(": ") + reason : "")));
      }
    }
    return std::make_shared<c_factory>(type, config);
  };
}

}  // namespace gateway::capi

using namespace gateway::capi;
using gateway::capi::text;

extern "C" {

gw_status gw_stream_get(gw_stream* s, gw_stream_field field, const char** value, size_t* length) {
  if (!s || !s->ctx || !value || !length) return GW_INVALID_ARGUMENT;
  const gateway::filter_context& c = *s->ctx;
  std::string_view v;
  switch (raw_value(field)) {
    case GW_FIELD_METHOD:
      v = c.method();
      break;
    case GW_FIELD_PATH:
      v = c.path();
      break;
    case GW_FIELD_QUERY:
      v = c.query();
      break;
    case GW_FIELD_HOST:
      v = c.host();
      break;
    case GW_FIELD_SCHEME:
      v = c.scheme();
      break;
    case GW_FIELD_CLIENT_IP:
      v = c.client_ip();
      break;
    case GW_FIELD_REQUEST_ID:
      v = c.request_id();
      break;
    case GW_FIELD_LISTENER:
      v = c.listener();
      break;
    case GW_FIELD_ROUTE:
      if (s->route_name.empty() && c.matched_route()) {
        if (gw_status st = allocating([&] {
              s->route_name = c.matched_route()->namespace_name + "/" + c.matched_route()->name;
            }))
          return st;
      }
      v = s->route_name;
      break;
    case GW_FIELD_PROTOCOL:
      v = c.protocol();
      break;
    default:
      return GW_INVALID_ARGUMENT;
  }
  *value = v.data() ? v.data() : "";
  *length = v.size();
  return GW_OK;
}

gw_status gw_stream_get_header(gw_stream* s, gw_headers_kind kind, const char* name,
                               size_t name_length, const char** value, size_t* length) {
  gateway::header_map* m = headers_of(s, kind);
  if (!m || !name || !value || !length) return GW_INVALID_ARGUMENT;
  auto found = m->get(text(name, name_length));
  if (!found) return GW_NOT_FOUND;
  *value = found->data() ? found->data() : "";
  *length = found->size();
  return GW_OK;
}

gw_status gw_stream_header_count(gw_stream* s, gw_headers_kind kind, size_t* count) {
  gateway::header_map* m = headers_of(s, kind);
  if (!m || !count) return GW_INVALID_ARGUMENT;
  *count = m->all().size();
  return GW_OK;
}

gw_status gw_stream_header_at(gw_stream* s, gw_headers_kind kind, size_t index, gw_header* field) {
  gateway::header_map* m = headers_of(s, kind);
  if (!m || !field) return GW_INVALID_ARGUMENT;
  auto all = m->all();
  if (index >= all.size()) return GW_NOT_FOUND;
  field->name = all[index].name.data();
  field->name_length = all[index].name.size();
  field->value = all[index].value.data();
  field->value_length = all[index].value.size();
  return GW_OK;
}

gw_status gw_stream_set_header(gw_stream* s, gw_headers_kind kind, const char* name,
                               size_t name_length, const char* value, size_t value_length) {
  gateway::header_map* m = headers_of(s, kind);
  if (!m || !name || name_length == 0 || bad_text(value, value_length)) return GW_INVALID_ARGUMENT;
  return allocating([&] { m->set(text(name, name_length), text(value, value_length)); });
}

gw_status gw_stream_add_header(gw_stream* s, gw_headers_kind kind, const char* name,
                               size_t name_length, const char* value, size_t value_length) {
  gateway::header_map* m = headers_of(s, kind);
  if (!m || !name || name_length == 0 || bad_text(value, value_length)) return GW_INVALID_ARGUMENT;
  return allocating([&] { m->add(text(name, name_length), text(value, value_length)); });
}

gw_status gw_stream_remove_header(gw_stream* s, gw_headers_kind kind, const char* name,
                                  size_t name_length) {
  gateway::header_map* m = headers_of(s, kind);
  if (!m || !name) return GW_INVALID_ARGUMENT;
  return m->remove(text(name, name_length)) ? GW_OK : GW_NOT_FOUND;
}

int gw_stream_response_status(gw_stream* s) {
  return s && s->ctx ? s->ctx->response_status() : 0;
}

gw_status gw_stream_send_reply(gw_stream* s, int status, const gw_header* headers,
                               size_t header_count, const char* body, size_t body_length) {
  if (!s || !s->ctx || (!headers && header_count) || bad_text(body, body_length) || status < 200 ||
      status > 599)
    return GW_INVALID_ARGUMENT;
  return allocating([&] {
    std::vector<gateway::http::header> fields;
    fields.reserve(header_count);
    for (size_t i = 0; i < header_count; ++i) {
      if (!headers[i].name || headers[i].name_length == 0 ||
          bad_text(headers[i].value, headers[i].value_length))
        throw std::invalid_argument("header");
      fields.push_back({text(headers[i].name, headers[i].name_length),
                        text(headers[i].value, headers[i].value_length)});
    }
    s->ctx->send_local_reply(status, text(body, body_length), fields);
  });
}

gw_status gw_stream_drop(gw_stream* s) {
  if (!s || !s->ctx) return GW_INVALID_ARGUMENT;
  s->ctx->drop_connection();
  return GW_OK;
}

gw_status gw_stream_buffer_request_body(gw_stream* s, uint64_t limit) {
  if (!s || !s->ctx) return GW_INVALID_ARGUMENT;
  s->ctx->buffer_request_body(limit);
  return GW_OK;
}

gw_status gw_stream_set_body_chunk(gw_stream* s, const char* data, size_t length) {
  if (!s || !s->ctx || !s->chunk || bad_text(data, length)) return GW_INVALID_ARGUMENT;
  return allocating([&] {
    s->body.assign(text(data, length));
    s->chunk->data = s->body;
  });
}

gw_status gw_stream_set_metadata(gw_stream* s, const char* key, size_t key_length,
                                 const char* value, size_t value_length) {
  if (!s || !s->ctx || !key || key_length == 0 || bad_text(value, value_length))
    return GW_INVALID_ARGUMENT;
  return allocating(
      [&] { s->ctx->set_metadata(text(key, key_length), text(value, value_length)); });
}

uint32_t gw_filter_counter(const char* event, size_t event_length) {
  if (!configuring || bad_text(event, event_length) || event_length == 0) return GW_NO_COUNTER;
  try {
    return configuring->counter(text(event, event_length)).id();
  } catch (...) {
    return GW_NO_COUNTER;
  }
}

gw_status gw_stream_count(gw_stream* s, uint32_t counter, uint64_t n) {
  if (!s || !s->ctx || counter == GW_NO_COUNTER) return GW_INVALID_ARGUMENT;
  s->ctx->count(gateway::filter_counter(counter), n);
  return GW_OK;
}

gw_status gw_stream_get_metadata(gw_stream* s, const char* key, size_t key_length,
                                 const char** value, size_t* length) {
  if (!s || !s->ctx || !key || !value || !length) return GW_INVALID_ARGUMENT;
  auto found = s->ctx->metadata(text(key, key_length));
  if (!found) return GW_NOT_FOUND;
  *value = found->data() ? found->data() : "";
  *length = found->size();
  return GW_OK;
}

void gw_stream_set_user_data(gw_stream* s, void* data) {
  if (s) s->user_data = data;
}

void* gw_stream_user_data(gw_stream* s) {
  return s ? s->user_data : nullptr;
}

gw_pause* gw_stream_pause(gw_stream* s) {
  if (!s || !s->ctx) return nullptr;
  try {
    auto* p = new gw_pause{s->ctx->pause_handle(), s->type->alive};
    s->paused = true;
    return p;
  } catch (...) {
    return nullptr;
  }
}

gw_status gw_stream_resume(gw_pause* p) {
  if (!p) return GW_INVALID_ARGUMENT;
  {
    std::lock_guard lock(p->alive->mutex);
    if (p->alive->alive) p->handle.resume();
  }
  delete p;
  return GW_OK;
}

void gw_pause_free(gw_pause* p) {
  delete p;
}

}  // extern "C"
