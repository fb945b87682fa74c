#pragma once
// What the C ABI's two halves share: the gateway handle, error recording and
// the guard that keeps control calls out of the gateway's own threads.
#include <gateway/gateway.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>

#include <gateway/gateway.h>

namespace gateway::capi {

// Whether gw_stream_resume may still touch the gateway's event loops: cleared
// (under `mutex`) before the server is destroyed, so a late resume only frees.
struct liveness {
  std::mutex mutex;
  bool alive = true;
};

// True while this thread runs a callback the gateway called (filter hook,
// log line): control calls from there would wait for this very thread.
bool in_callback() noexcept;

// Marks the current thread as inside a callback for its lifetime.
class callback_scope {
 public:
  callback_scope() noexcept;
  ~callback_scope();
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;
};

// The integer a C caller passed for an enum parameter. C may pass any value,
// and loading an out-of-range value as the C++ enum type is undefined, so
// the bytes are read as the underlying integer.
template <class E>
std::underlying_type_t<E> raw_value(const E& e) noexcept {
  std::underlying_type_t<E> v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// Reads a caller's struct that starts with `struct_size` and may grow
// (gateway.h's promise): an older, smaller one leaves the fields it lacks
// zero, which each reader takes as that field's default; a newer, larger one
// is taken when the fields this library does not know are all zero (nothing
// is asked of it that it would silently ignore). Otherwise false, with the
// reason in `why` (`what` names the struct for it).
template <class T>
bool read_sized(const T& in, T& out, const char* what, std::string& why) {
  const std::size_t size = in.struct_size;
  if (size < sizeof in.struct_size) {
    why = std::string(what) + ": struct_size is not set (use sizeof(" + what + "))";
    return false;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(&in);
  for (std::size_t i = sizeof(T); i < size; ++i)
    if (bytes[i] != 0) {
      why = std::string(what) + ": struct_size " + std::to_string(size) +
            " has fields set past byte " + std::to_string(sizeof(T)) +
            " that this library does not know (built against a newer gateway.h?)";
      return false;
    }
  std::memset(&out, 0, sizeof out);
  std::memcpy(&out, &in, std::min(size, sizeof(T)));
  out.struct_size = sizeof(T);
  return true;
}

// Writes `full` into a caller's `out` that starts with struct_size and may
// be of another version: an older, smaller one gets the fields it has; a
// newer one's further fields are left as they are. False (nothing written)
// when its struct_size is unset.
template <class T>
bool write_sized(T full, T& out) noexcept {
  const std::size_t size = out.struct_size;
  if (size < sizeof out.struct_size) return false;
  full.struct_size = size;
  std::memcpy(&out, &full, std::min(size, sizeof full));
  return true;
}

// A handle's last failure, for its gw_*_errmsg. Failures without a handle
// go to the calling thread's slot.
struct error_slot {
  mutable std::mutex mutex;
  std::string text;
};

// Records `message` in `slot` (null: the thread's) and returns `status`.
gw_status fail_on(const error_slot* slot, gw_status status, std::string_view message) noexcept;
// The status a gateway::error's code stands for.
gw_status status_of(const std::error_code& ec) noexcept;
// What `slot` (null: the thread's) holds, valid until the thread's next call
// of an errmsg function.
const char* errmsg_of(const error_slot* slot) noexcept;

// Runs `body` and turns whatever it throws into a status and a message,
// which `fail(status, message)` records (and returns the status).
template <class Fail, class Body>
gw_status guarded_with(Fail&& fail, Body&& body) noexcept {
  try {
    return body();
  } catch (const gateway::error& e) {
    return fail(status_of(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(GW_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(GW_ERROR, e.what());
  } catch (...) {
    return fail(GW_ERROR, "unknown failure");
  }
}

// Runs `body` and turns whatever it throws into a status and a message in `slot`.
template <class Body>
gw_status guarded_on(const error_slot* slot, Body&& body) noexcept {
  return guarded_with(
      [slot](gw_status st, std::string_view message) { return fail_on(slot, st, message); },
      std::forward<Body>(body));
}

// Hands `s` to the caller as a NUL-terminated copy it frees with gw_string_free.
gw_status give_text(const std::string& s, char** out, std::size_t* length);

// A caller's text: NULL with length 0 is the empty string.
inline std::string_view text(const char* p, std::size_t n) noexcept {
  return p ? std::string_view(p, n) : std::string_view();
}
// NULL with a length is a caller's mistake, not the empty string.
inline bool bad_text(const char* p, std::size_t n) noexcept {
  return !p && n != 0;
}

// Makes a C filter type's factory builder for `registry`.
filter_factory_context_builder c_filter_builder(std::string name,
                                                const gw_filter_callbacks& callbacks,
                                                void* user_data, std::shared_ptr<liveness> alive);

}  // namespace gateway::capi

// The handle behind gw_gateway*.
struct gw_gateway {
  enum class state { empty, loaded, running, stopped };

  std::mutex control;  // serializes load, start, stop, reload, free
  std::atomic<state> current{state::empty};
  gateway::server_options options;
  gateway::filter_registry filters = gateway::filter_registry::builtin();
  std::optional<std::string> bind_all;      // gw_gateway_bind_all
  bool strict = false;                      // gw_gateway_set_strict
  std::unique_ptr<gateway::server> server;  // from the last load
  std::shared_ptr<gateway::capi::liveness> alive = std::make_shared<gateway::capi::liveness>();

  gateway::capi::error_slot errors;  // the last failure's message
};
