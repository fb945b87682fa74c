#include <gateway/error.hpp>
#include <gateway/log.hpp>

namespace gateway {
namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gateway"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_config:
        return "invalid configuration";
      case errc::bind_failed:
        return "listener could not be opened";
      case errc::invalid_state:
        return "call not allowed in the current state";
      case errc::not_found:
        return "no such object";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::unavailable:
        return "no complete response";
    }
    return "unknown gateway error";
  }
};
}  // namespace

const std::error_category& gateway_category() noexcept {
  static const category instance;
  return instance;
}

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
    case log_level::off:
      return "off";
  }
  return "?";
}
}  // namespace gateway
