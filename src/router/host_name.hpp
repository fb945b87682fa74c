#pragma once
// Host name handling shared by the router and the config loader.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gateway {

inline constexpr std::size_t max_host_length = 256;

// The host of a Host field or URL authority, its port dropped: "a.test:8080"
// -> "a.test", "[::1]:80" -> "[::1]" (an IPv6 literal keeps its brackets).
inline std::string_view host_without_port(std::string_view authority) noexcept {
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    return authority.substr(0, close == std::string_view::npos ? authority.size() : close + 1);
  }
  const std::size_t colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

// `host` without port and trailing dot, lowercased into `storage`; empty if
// it cannot be a host name (too long, empty).
std::string_view request_host_key(std::string_view host, char (&storage)[max_host_length]) noexcept;

// Whether a listener hostname ("" for any, "*.x" for any name under x, or
// exact) covers `host` (lowercased, without port): Gateway API listener
// matching, for Host headers and SNI alike.
inline bool listener_hostname_covers(std::string_view listener, std::string_view host) noexcept {
  if (listener.empty()) return true;
  if (listener.starts_with("*."))
    return host.size() > listener.size() - 1 && host.ends_with(listener.substr(1));
  return host == listener;
}

// A configured host name lowercased ("*.Example.com" -> "*.example.com").
std::string lowercase_host(std::string_view host);

// True for an RFC 1123 name, optionally with a leading "*." wildcard label.
bool valid_route_hostname(std::string_view host) noexcept;

// Gateway API hostname intersection: the names a route with `route_hosts`
// serves on a listener with hostname `listener` ("" for any). False when they
// have none in common (the route does not attach there).
bool intersect_hostnames(std::string_view listener, const std::vector<std::string>& route_hosts,
                         std::vector<std::string>& out);

}  // namespace gateway
