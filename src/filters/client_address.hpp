#pragma once
// Client addresses for the access filters: parsing, CIDR ranges, and the
// client as seen through a configured number of trusted proxies.
#include <gateway/filter.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace gateway::filters {

// An IPv4 or IPv6 address; IPv4-mapped IPv6 addresses are stored as IPv4.
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
  static std::optional<ip_address> parse(std::string_view text) noexcept;
};

// "10.0.0.0/8", "2001:db8::/32", or one address (a full-length prefix).
struct cidr {
  ip_address base;
  unsigned prefix = 0;
  static std::optional<cidr> parse(std::string_view text) noexcept;
  bool contains(const ip_address& a) const noexcept;
};

// The client address: the socket peer, or with `trusted_hops` proxies in front,
// the address that many entries from the right of X-Forwarded-For (the one the
// outermost trusted proxy appended); the peer when the list is shorter.
std::string_view client_address(filter_context& ctx, unsigned trusted_hops) noexcept;
// The same over a request's fields and its socket peer.
std::string_view forwarded_client(std::span<const http::header> fields, std::string_view peer,
                                  unsigned trusted_hops) noexcept;

}  // namespace gateway::filters
