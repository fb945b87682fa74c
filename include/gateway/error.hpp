#pragma once
#include <gateway/export.hpp>

#include <string>
#include <system_error>

namespace gateway {

// Failure kinds of the calls a host makes (config, bind, rule load, a
// client's call); the data plane itself never throws. Values only grow.
enum class errc {
  invalid_config = 1,  // the configuration is malformed or inconsistent
  bind_failed,         // a listener could not be opened
  invalid_state,       // the call is not allowed in the object's current state
  not_found,           // a named object (listener, cluster, service) does not exist
  invalid_argument,    // a value the caller gave cannot be used (a malformed URL)
  // A client's call ended without a whole response: the connection failed
  // after the response began, the call's deadline passed, or the client stopped.
  unavailable,
};

// The category of gateway::errc values.
GATEWAY_API const std::error_category& gateway_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), gateway_category()};
}

// What control-plane calls throw: an error code plus a message naming the cause.
// what() is the message alone, so it can be shown to a user as it is.
class GATEWAY_API error : public std::system_error {
 public:
  error(errc code, std::string message)
      : std::system_error(make_error_code(code)), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

}  // namespace gateway

template <>
struct std::is_error_code_enum<gateway::errc> : std::true_type {};
