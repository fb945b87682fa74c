#pragma once
// Removal of dot segments (RFC 3986 §5.2.4) from a request path, so routing
// and the upstream see one spelling of each path.
#include <string>
#include <string_view>

namespace gateway {

// True when `path` has a "." or ".." segment (the common case answers false fast).
bool needs_normalization(std::string_view path) noexcept;
// Writes `path` without dot segments to `out` (reused storage).
void normalize_path(std::string_view path, std::string& out);

}  // namespace gateway
