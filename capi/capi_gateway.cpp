// The C ABI's gateway handle: lifecycle, configuration, errors and the
// read-only accessors. Every entry point is noexcept and turns exceptions
// into a gw_status plus a message; nothing C++ crosses the boundary.
#include <fmt/format.h>
#include <cstdlib>
#include <cstring>
#include <new>

#include "capi_internal.hpp"

using gateway::errc;

namespace gateway::capi {
namespace {

thread_local int callback_depth = 0;
thread_local std::string thread_error;    // failures without a handle
thread_local std::string returned_error;  // what an errmsg function last handed out

}  // namespace

gw_status status_of(const std::error_code& ec) noexcept {
  if (ec.category() != gateway_category()) return GW_ERROR;
  switch (static_cast<errc>(ec.value())) {
    case errc::invalid_config:
      return GW_INVALID_CONFIG;
    case errc::bind_failed:
      return GW_BIND_FAILED;
    case errc::invalid_state:
      return GW_INVALID_STATE;
    case errc::not_found:
      return GW_NOT_FOUND;
    case errc::invalid_argument:
      return GW_INVALID_ARGUMENT;
    case errc::unavailable:
      return GW_UNAVAILABLE;
  }
  return GW_ERROR;
}

gw_status fail_on(const error_slot* slot, gw_status status, std::string_view message) noexcept {
  try {
    if (slot) {
      std::lock_guard lock(slot->mutex);
      const_cast<error_slot*>(slot)->text.assign(message);
    } else {
      thread_error.assign(message);
    }
  } catch (...) {
    // Out of memory while recording a message: the status still says what happened.
  }
  return status;
}

const char* errmsg_of(const error_slot* slot) noexcept {
  try {
    if (!slot) {
      returned_error = thread_error;
    } else {
      std::lock_guard lock(slot->mutex);
      returned_error = slot->text;
    }
    return returned_error.c_str();
  } catch (...) {
    return "out of memory";
  }
}

namespace {

gw_status fail(const gw_gateway* gw, gw_status status, std::string_view message) noexcept {
  return fail_on(gw ? &gw->errors : nullptr, status, message);
}

// Runs `body` and maps whatever it throws to a status and message on `gw`.
template <class Body>
gw_status guarded(const gw_gateway* gw, Body&& body) noexcept {
  return guarded_on(gw ? &gw->errors : nullptr, std::forward<Body>(body));
}

// The checks every control call starts with; GW_OK to go on.
gw_status check_control(gw_gateway* gw, const char* call) noexcept {
  if (!gw) return fail(nullptr, GW_INVALID_ARGUMENT, fmt::format("{}: gateway is NULL", call));
  if (in_callback())
    return fail(gw, GW_INVALID_STATE,
                std::string(call) +
                    ": called from a gateway callback (a filter hook or the log), which would "
                    "wait for its own thread");
  return GW_OK;
}

gateway_config with_bindings(const gw_gateway& gw, gateway_config config) {
  if (gw.bind_all)
    for (auto& l : config.listeners) {
      l.bind_address = *gw.bind_all;
      l.bind_port = 0;
    }
  return config;
}

gw_status load(gw_gateway* gw, const char* call, std::string_view yaml, const char* path) {
  std::lock_guard lock(gw->control);
  const auto now = gw->current.load();
  if (now == gw_gateway::state::running || now == gw_gateway::state::stopped)
    return fail(gw, GW_INVALID_STATE,
                fmt::format("{}: the gateway has been started; use gw_gateway_reload_*", call));
  gateway_config config =
      path ? load_yaml_file(path, gw->filters) : load_yaml(yaml, "<yaml>", gw->filters);
  if (gw->strict) require_no_warnings(config);
  auto next = std::make_unique<server>(with_bindings(*gw, std::move(config)), gw->options);
  gw->server = std::move(next);
  gw->current = gw_gateway::state::loaded;
  return GW_OK;
}

gw_status reload(gw_gateway* gw, const char* call, std::string_view yaml, const char* path) {
  std::lock_guard lock(gw->control);
  if (gw->current != gw_gateway::state::running)
    return fail(gw, GW_INVALID_STATE,
                fmt::format("{}: the gateway is not running (load, then start first)", call));
  gateway_config config =
      path ? load_yaml_file(path, gw->filters) : load_yaml(yaml, "<yaml>", gw->filters);
  if (gw->strict) require_no_warnings(config);
  gw->server->reload(with_bindings(*gw, std::move(config)));
  return GW_OK;
}

// The server for an accessor that needs one running (or, `loaded_ok`, loaded).
const server* serving(const gw_gateway* gw, const char* call, bool loaded_ok, gw_status& st) {
  st = GW_OK;
  if (!gw) {
    st = fail(nullptr, GW_INVALID_ARGUMENT, fmt::format("{}: gateway is NULL", call));
    return nullptr;
  }
  const auto now = gw->current.load();
  if (now == gw_gateway::state::running || (loaded_ok && now != gw_gateway::state::empty))
    return gw->server.get();
  st = fail(gw, GW_INVALID_STATE,
            std::string(call) + (loaded_ok ? ": no configuration loaded" : ": not running"));
  return nullptr;
}

}  // namespace

bool in_callback() noexcept {
  return callback_depth > 0;
}
callback_scope::callback_scope() noexcept {
  ++callback_depth;
}
callback_scope::~callback_scope() {
  --callback_depth;
}

gw_status give_text(const std::string& s, char** out, std::size_t* length) {
  char* copy = static_cast<char*>(std::malloc(s.size() + 1));
  if (!copy) throw std::bad_alloc();
  std::memcpy(copy, s.data(), s.size());
  copy[s.size()] = '\0';
  *out = copy;
  if (length) *length = s.size();
  return GW_OK;
}

}  // namespace gateway::capi

using namespace gateway::capi;
using gateway::capi::text;

extern "C" {

int gw_version_number(void) {
  return gateway::version_number();
}

const char* gw_version(void) {
  return gateway::version_string();
}

const char* gw_strerror(gw_status status) {
  switch (raw_value(status)) {
    case GW_OK:
      return "ok";
    case GW_ERROR:
      return "internal error";
    case GW_INVALID_ARGUMENT:
      return "invalid argument";
    case GW_INVALID_CONFIG:
      return "invalid configuration";
    case GW_BIND_FAILED:
      return "listener could not be opened";
    case GW_INVALID_STATE:
      return "not allowed in the gateway's current state";
    case GW_NOT_FOUND:
      return "not found";
    case GW_NO_MEMORY:
      return "out of memory";
    case GW_UNAVAILABLE:
      return "no complete response";
  }
  return "unknown status";
}

const char* gw_errmsg(const gw_gateway* gw) {
  return gateway::capi::errmsg_of(gw ? &gw->errors : nullptr);
}

gw_status gw_gateway_new(gw_gateway** out) {
  if (!out) return fail(nullptr, GW_INVALID_ARGUMENT, "gw_gateway_new: out is NULL");
  *out = nullptr;
  return guarded(nullptr, [&] {
    auto* gw = new gw_gateway;
    gw->options.certificate_check_interval = std::chrono::milliseconds(2000);
    *out = gw;
    return GW_OK;
  });
}

void gw_gateway_free(gw_gateway* gw) {
  if (!gw || in_callback()) return;  // from a callback it would join its own thread: leak instead
  try {
    std::lock_guard lock(gw->control);
    if (gw->server && gw->current == gw_gateway::state::running)
      gw->server->stop(std::chrono::seconds(1));
    {
      std::lock_guard alive(gw->alive->mutex);
      gw->alive->alive = false;
    }
    gw->server.reset();
  } catch (...) {
    // Stopping only throws on misuse, which the state checks exclude.
  }
  delete gw;
}

gw_status gw_gateway_set_log(gw_gateway* gw, gw_log_level level, gw_log_fn fn, void* user_data) {
  if (gw_status st = check_control(gw, "gw_gateway_set_log")) return st;
  const auto raw_level = raw_value(level);
  if (raw_level < GW_LOG_DEBUG || raw_level > GW_LOG_OFF)
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_set_log: level is not a gw_log_level");
  return guarded(gw, [&] {
    std::lock_guard lock(gw->control);
    if (gw->current != gw_gateway::state::empty)
      return fail(gw, GW_INVALID_STATE,
                  "gw_gateway_set_log: set the log before loading a configuration");
    gw->options.level = static_cast<gateway::log_level>(raw_level);
    gw->options.sink = nullptr;
    if (fn)
      gw->options.sink = [fn, user_data](gateway::log_level l, std::string_view message) {
        callback_scope inside;
        fn(user_data, static_cast<gw_log_level>(l), message.data(), message.size());
      };
    return GW_OK;
  });
}

gw_status gw_gateway_set_admin(gw_gateway* gw, const char* address, size_t address_length,
                               uint16_t port) {
  if (gw_status st = check_control(gw, "gw_gateway_set_admin")) return st;
  if (!address || address_length == 0)
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_set_admin: address is empty");
  return guarded(gw, [&] {
    std::lock_guard lock(gw->control);
    if (gw->current != gw_gateway::state::empty)
      return fail(gw, GW_INVALID_STATE,
                  "gw_gateway_set_admin: set the admin listener before loading a configuration");
    gw->options.admin = gateway::admin_options{std::string(address, address_length), port};
    return GW_OK;
  });
}

gw_status gw_gateway_set_limits(gw_gateway* gw, const gw_limits* limits) {
  if (gw_status st = check_control(gw, "gw_gateway_set_limits")) return st;
  if (!limits) return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_set_limits: limits is NULL");
  gw_limits in;
  std::string why;
  if (!gateway::capi::read_sized(*limits, in, "gw_limits", why))
    return fail(gw, GW_INVALID_ARGUMENT, why);
  const bool inverted =
      (in.heap_soft && in.heap_hard && in.heap_soft > in.heap_hard) ||
      (in.descriptors_soft && in.descriptors_hard && in.descriptors_soft > in.descriptors_hard);
  if (inverted)
    return fail(gw, GW_INVALID_ARGUMENT,
                "gw_gateway_set_limits: a soft threshold is above its hard one");
  return guarded(gw, [&] {
    std::lock_guard lock(gw->control);
    if (gw->current != gw_gateway::state::empty)
      return fail(gw, GW_INVALID_STATE,
                  "gw_gateway_set_limits: set the limits before loading a configuration");
    gateway::server_options& o = gw->options;
    o.limits.max_connections = in.max_connections;
    o.limits.max_streams = in.max_streams == 0          ? gateway::worker_limits{}.max_streams
                           : in.max_streams == SIZE_MAX ? 0
                                                        : in.max_streams;
    o.overload.heap_soft = in.heap_soft;
    o.overload.heap_hard = in.heap_hard;
    o.overload.descriptors_soft = in.descriptors_soft;
    o.overload.descriptors_hard = in.descriptors_hard;
    if (in.overload_interval_ms)
      o.overload.interval = std::chrono::milliseconds(in.overload_interval_ms);
    return GW_OK;
  });
}

gw_status gw_gateway_bind_all(gw_gateway* gw, const char* address, size_t address_length) {
  if (gw_status st = check_control(gw, "gw_gateway_bind_all")) return st;
  if (!address || address_length == 0)
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_bind_all: address is empty");
  return guarded(gw, [&] {
    std::lock_guard lock(gw->control);
    if (gw->current != gw_gateway::state::empty)
      return fail(gw, GW_INVALID_STATE,
                  "gw_gateway_bind_all: set the bind address before loading a configuration");
    std::string a(address, address_length);
    boost::system::error_code ec;
    boost::asio::ip::make_address(a, ec);
    if (ec)
      return fail(gw, GW_INVALID_ARGUMENT,
                  fmt::format("gw_gateway_bind_all: '{}' is not an IPv4 or IPv6 address", a));
    gw->bind_all = std::move(a);
    return GW_OK;
  });
}

gw_status gw_gateway_set_strict(gw_gateway* gw, int strict) {
  if (gw_status st = check_control(gw, "gw_gateway_set_strict")) return st;
  return guarded(gw, [&] {
    std::lock_guard lock(gw->control);
    if (gw->current != gw_gateway::state::empty)
      return fail(gw, GW_INVALID_STATE,
                  "gw_gateway_set_strict: choose strict mode before loading a configuration");
    gw->strict = strict != 0;
    return GW_OK;
  });
}

gw_status gw_gateway_load_yaml(gw_gateway* gw, const char* yaml, size_t length) {
  if (gw_status st = check_control(gw, "gw_gateway_load_yaml")) return st;
  if (bad_text(yaml, length))
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_load_yaml: yaml is NULL");
  return guarded(gw, [&] { return load(gw, "gw_gateway_load_yaml", text(yaml, length), nullptr); });
}

gw_status gw_gateway_load_file(gw_gateway* gw, const char* path) {
  if (gw_status st = check_control(gw, "gw_gateway_load_file")) return st;
  if (!path || !*path) return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_load_file: path is empty");
  return guarded(gw, [&] { return load(gw, "gw_gateway_load_file", {}, path); });
}

gw_status gw_gateway_start(gw_gateway* gw, unsigned threads) {
  if (gw_status st = check_control(gw, "gw_gateway_start")) return st;
  return guarded(gw, [&] {
    std::lock_guard lock(gw->control);
    switch (gw->current.load()) {
      case gw_gateway::state::empty:
        return fail(gw, GW_INVALID_STATE, "gw_gateway_start: no configuration loaded");
      case gw_gateway::state::running:
        return fail(gw, GW_INVALID_STATE, "gw_gateway_start: already running");
      case gw_gateway::state::stopped:
        return fail(gw, GW_INVALID_STATE,
                    "gw_gateway_start: a stopped gateway does not restart; make a new one");
      case gw_gateway::state::loaded:
        break;
    }
    if (threads > 1024)
      return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_start: more than 1024 threads");
    gw->server->start(threads);
    gw->current = gw_gateway::state::running;
    return GW_OK;
  });
}

gw_status gw_gateway_stop(gw_gateway* gw, uint32_t drain_ms) {
  if (gw_status st = check_control(gw, "gw_gateway_stop")) return st;
  return guarded(gw, [&] {
    std::lock_guard lock(gw->control);
    switch (gw->current.load()) {
      case gw_gateway::state::stopped:
        return GW_OK;
      case gw_gateway::state::running:
        break;
      default:
        return fail(gw, GW_INVALID_STATE, "gw_gateway_stop: the gateway was never started");
    }
    gw->server->stop(std::chrono::milliseconds(drain_ms));
    gw->current = gw_gateway::state::stopped;
    return GW_OK;
  });
}

gw_status gw_gateway_reload_yaml(gw_gateway* gw, const char* yaml, size_t length) {
  if (gw_status st = check_control(gw, "gw_gateway_reload_yaml")) return st;
  if (bad_text(yaml, length))
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_reload_yaml: yaml is NULL");
  return guarded(gw,
                 [&] { return reload(gw, "gw_gateway_reload_yaml", text(yaml, length), nullptr); });
}

gw_status gw_gateway_reload_file(gw_gateway* gw, const char* path) {
  if (gw_status st = check_control(gw, "gw_gateway_reload_file")) return st;
  if (!path || !*path)
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_reload_file: path is empty");
  return guarded(gw, [&] { return reload(gw, "gw_gateway_reload_file", {}, path); });
}

uint64_t gw_gateway_config_version(const gw_gateway* gw) {
  if (!gw || gw->current == gw_gateway::state::empty) return 0;
  return gw->server->config_version();
}

gw_status gw_gateway_port(const gw_gateway* gw, const char* name, size_t name_length,
                          uint16_t* port) {
  gw_status st;
  const gateway::server* s = serving(gw, "gw_gateway_port", false, st);
  if (!s) return st;
  if (!port || bad_text(name, name_length))
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_port: port or name is NULL");
  return guarded(gw, [&] {
    *port = name_length ? s->port(text(name, name_length)) : s->port();
    return GW_OK;
  });
}

gw_status gw_gateway_admin_port(const gw_gateway* gw, uint16_t* port) {
  gw_status st;
  const gateway::server* s = serving(gw, "gw_gateway_admin_port", false, st);
  if (!s) return st;
  if (!port) return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_admin_port: port is NULL");
  return guarded(gw, [&] {
    *port = s->admin_port();
    return GW_OK;
  });
}

gw_status gw_gateway_stats(const gw_gateway* gw, char** out, size_t* length) {
  gw_status st;
  const gateway::server* s = serving(gw, "gw_gateway_stats", false, st);
  if (!s) return st;
  if (!out) return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_stats: text is NULL");
  *out = nullptr;
  return guarded(gw, [&] { return give_text(s->stats_text(), out, length); });
}

gw_status gw_gateway_config_json(const gw_gateway* gw, char** out, size_t* length) {
  gw_status st;
  const gateway::server* s = serving(gw, "gw_gateway_config_json", true, st);
  if (!s) return st;
  if (!out) return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_config_json: text is NULL");
  *out = nullptr;
  return guarded(gw, [&] { return give_text(s->config_json(), out, length); });
}

void gw_string_free(char* text) {
  std::free(text);
}

gw_status gw_gateway_add_filter(gw_gateway* gw, const char* name, size_t name_length,
                                const gw_filter_callbacks* callbacks, void* user_data) {
  if (gw_status st = check_control(gw, "gw_gateway_add_filter")) return st;
  if (!name || name_length == 0 || !callbacks)
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_add_filter: name or callbacks missing");
  return guarded(gw, [&] {
    gw_filter_callbacks table;
    std::string why;
    if (!gateway::capi::read_sized(*callbacks, table, "gw_filter_callbacks", why))
      return fail(gw, GW_INVALID_ARGUMENT, fmt::format("gw_gateway_add_filter: {}", why));
    std::lock_guard lock(gw->control);
    if (gw->current != gw_gateway::state::empty)
      return fail(gw, GW_INVALID_STATE,
                  "gw_gateway_add_filter: add filters before loading a configuration");
    std::string n(name, name_length);
    if (gw->filters.find(n))
      return fail(gw, GW_INVALID_ARGUMENT,
                  fmt::format("gw_gateway_add_filter: a filter type named '{}' exists already", n));
    gw->filters.add(n, c_filter_builder(n, table, user_data, gw->alive));
    return GW_OK;
  });
}

gw_status gw_gateway_evaluate(gw_gateway* gw, const gw_request* request, char** json,
                              size_t* length) {
  gw_status st;
  const gateway::server* s = serving(gw, "gw_gateway_evaluate", true, st);
  if (!s) return st;
  if (!request || !json)
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_evaluate: request or json is NULL");
  *json = nullptr;
  gw_request r;
  if (gw_status bad = guarded(gw, [&] {
        std::string why;
        return gateway::capi::read_sized(*request, r, "gw_request", why)
                   ? GW_OK
                   : fail(gw, GW_INVALID_ARGUMENT, fmt::format("gw_gateway_evaluate: {}", why));
      }))
    return bad;
  if (bad_text(r.method, r.method_length) || bad_text(r.url, r.url_length) ||
      bad_text(r.body, r.body_length) || bad_text(r.client_ip, r.client_ip_length) ||
      bad_text(r.listener, r.listener_length) || (!r.headers && r.header_count))
    return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_evaluate: a NULL pointer with a length");
  if (in_callback())
    return fail(gw, GW_INVALID_STATE,
                "gw_gateway_evaluate: called from a gateway callback (it runs filters and may "
                "wait for them)");
  return guarded(gw, [&] {
    gateway::evaluation_request er;
    er.method.assign(text(r.method, r.method_length));
    er.url.assign(text(r.url, r.url_length));
    for (std::size_t i = 0; i < r.header_count; ++i) {
      const gw_header& h = r.headers[i];
      if (bad_text(h.name, h.name_length) || bad_text(h.value, h.value_length))
        return fail(gw, GW_INVALID_ARGUMENT, "gw_gateway_evaluate: a header with a NULL pointer");
      er.headers.emplace_back(text(h.name, h.name_length), text(h.value, h.value_length));
    }
    er.body.assign(text(r.body, r.body_length));
    if (r.client_ip_length) er.client_ip.assign(text(r.client_ip, r.client_ip_length));
    er.listener.assign(text(r.listener, r.listener_length));
    return give_text(gateway::to_json(s->evaluate(er)), json, length);
  });
}

}  // extern "C"
