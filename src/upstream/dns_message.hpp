#pragma once
// DNS messages as the resolver writes queries and reads answers (RFC 1035,
// EDNS0): apart from its sockets so the answer parser can be tested and
// fuzzed on its own.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace gateway::dns {

inline constexpr std::uint16_t type_a = 1, type_aaaa = 28, type_opt = 41;

// A hostname DNS can resolve: dot-separated labels of letters, digits and
// hyphens (not at either end), 63 bytes each, 253 in all; a trailing dot allowed.
bool dns_name(std::string_view n);

void put16(std::string& out, std::uint16_t v);
// Big-endian fields at `at` (the caller checks the bounds).
std::uint16_t get16(std::string_view s, std::size_t at);
std::uint32_t get32(std::string_view s, std::size_t at);

// A query for `name` (one question, recursion desired, EDNS0 with a 1232-byte
// payload so most answers fit in one datagram).
std::string make_query(std::uint16_t id, const std::string& name, std::uint16_t type);

// Skips a (possibly compressed) name at `at`; false when malformed.
bool skip_name(std::string_view s, std::size_t& at);

// What an answer says.
struct parsed {
  bool ok = false;  // a well-formed response to the query `id`
  bool truncated = false;
  int rcode = 0;
  std::vector<boost::asio::ip::address> addresses;  // the records of the type asked
  std::uint32_t ttl = UINT32_MAX;                   // their lowest
};

// Reads the answer `s` to query `id` for records of `type` (A or AAAA).
parsed parse_answer(std::string_view s, std::uint16_t id, std::uint16_t type);

}  // namespace gateway::dns
