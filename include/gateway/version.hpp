#pragma once
#include <gateway/export.hpp>

// Compile-time version of the headers; compare with gateway::version_number() at run time.
#define GATEWAY_VERSION_MAJOR 0
#define GATEWAY_VERSION_MINOR 1
#define GATEWAY_VERSION_PATCH 0
#define GATEWAY_VERSION_NUMBER \
  (GATEWAY_VERSION_MAJOR * 10000 + GATEWAY_VERSION_MINOR * 100 + GATEWAY_VERSION_PATCH)

namespace gateway {
// Version of the library actually loaded, as GATEWAY_VERSION_NUMBER encodes it.
GATEWAY_API int version_number() noexcept;
// Version of the library actually loaded as "MAJOR.MINOR.PATCH"; static storage.
GATEWAY_API const char* version_string() noexcept;
}  // namespace gateway
