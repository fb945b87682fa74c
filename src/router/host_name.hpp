#pragma once
// Host name handling shared by the router and the config loader.
#include <cstddef>
#include <string>
#include <string_view>

namespace gateway {

inline constexpr std::size_t max_host_length = 256;

// `host` without port and trailing dot, lowercased into `storage`; empty if
// it cannot be a host name (too long, empty).
std::string_view request_host_key(std::string_view host, char (&storage)[max_host_length]) noexcept;

// A configured host name lowercased ("*.Example.com" -> "*.example.com").
std::string lowercase_host(std::string_view host);

// True for an RFC 1123 name, optionally with a leading "*." wildcard label.
bool valid_route_hostname(std::string_view host) noexcept;

}  // namespace gateway
