#include <gateway/version.hpp>

namespace gateway {
int version_number() noexcept {
  return GATEWAY_VERSION_NUMBER;
}
const char* version_string() noexcept {
  return "0.1.0";
}
}  // namespace gateway
