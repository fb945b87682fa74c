#pragma once
#include <gateway/export.hpp>

#include <cstddef>
#include <span>
#include <string_view>

namespace gateway::http {

// One header field as received; both views borrow the connection's buffer and
// live only as long as the request (or response) head they belong to.
struct header {
  std::string_view name;
  std::string_view value;
};

// Case-insensitive ASCII comparison, as HTTP field names require.
GATEWAY_API bool iequals(std::string_view a, std::string_view b) noexcept;

// First header named `name` (case-insensitive) in `headers`, or nullptr.
GATEWAY_API const header* find_header(std::span<const header> headers,
                                      std::string_view name) noexcept;

// Standard reason phrase for a status code ("Not Found"), or "" if unknown.
GATEWAY_API std::string_view reason_phrase(int status) noexcept;

}  // namespace gateway::http
