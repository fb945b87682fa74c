#include "filters/client_address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace gateway::filters {

std::optional<ip_address> ip_address::parse(std::string_view text) noexcept {
  char buf[64];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  ip_address a;
  if (::inet_pton(AF_INET, buf, a.bytes.data()) == 1) {
    a.v4 = true;
    return a;
  }
  if (::inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), mapped, 12) == 0) {
    std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
    std::memset(a.bytes.data() + 4, 0, 12);
    a.v4 = true;
  }
  return a;
}

std::optional<cidr> cidr::parse(std::string_view text) noexcept {
  cidr c;
  std::string_view address = text;
  std::optional<unsigned> prefix;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    unsigned n = 0;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') return std::nullopt;
      n = n * 10 + static_cast<unsigned>(ch - '0');
    }
    prefix = n;
  }
  auto a = ip_address::parse(address);
  if (!a) return std::nullopt;
  const unsigned bits = a->v4 ? 32 : 128;
  c.prefix = prefix.value_or(bits);
  if (c.prefix > bits) return std::nullopt;
  c.base = *a;
  return c;
}

bool cidr::contains(const ip_address& a) const noexcept {
  if (a.v4 != base.v4) return false;
  unsigned full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string_view client_address(filter_context& ctx, unsigned trusted_hops) noexcept {
  return forwarded_client(ctx.request_headers().all(), ctx.client_ip(), trusted_hops);
}

std::string_view forwarded_client(std::span<const http::header> fields, std::string_view peer,
                                  unsigned trusted_hops) noexcept {
  if (trusted_hops == 0) return peer;
  // Every X-Forwarded-For field, as one list read from the right.
  unsigned seen = 0;
  for (std::size_t i = fields.size(); i-- > 0;) {
    if (!http::iequals(fields[i].name, "x-forwarded-for")) continue;
    std::string_view list = fields[i].value;
    while (!list.empty()) {
      std::size_t comma = list.rfind(',');
      std::string_view item = comma == std::string_view::npos ? list : list.substr(comma + 1);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
        item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
        item.remove_suffix(1);
      if (++seen == trusted_hops) return item;
    }
  }
  return peer;
}

}  // namespace gateway::filters
