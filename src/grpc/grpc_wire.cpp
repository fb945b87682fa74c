#include "grpc/grpc_wire.hpp"

#include <gateway/http.hpp>

#include <array>
#include <charconv>

namespace gateway::grpc {

bool is_grpc_content_type(std::string_view v) noexcept {
  constexpr std::string_view prefix = "application/grpc";
  if (v.size() < prefix.size() || !http::iequals(v.substr(0, prefix.size()), prefix)) return false;
  // "application/grpc", "application/grpc+proto", "application/grpc-web-text;...", not
  // "application/grpcx".
  if (v.size() == prefix.size()) return true;
  const char next = v[prefix.size()];
  return next == '+' || next == '-' || next == ';' || next == ' ';
}

int status_for_http(int status) noexcept {
  switch (status) {
    case 400:
      return internal;
    case 401:
      return unauthenticated;
    case 403:
      return permission_denied;
    case 404:
      return unimplemented;
    case 413:
      return resource_exhausted;
    case 429:
    case 502:
    case 503:
    case 504:
      return unavailable;
    default:
      return unknown;
  }
}

std::string_view status_text(int code) noexcept {
  static constexpr std::array<std::string_view, 17> texts = {
      "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"};
  return code >= 0 && code < 17 ? texts[static_cast<std::size_t>(code)] : texts[2];
}

std::optional<std::chrono::milliseconds> parse_timeout(std::string_view v) noexcept {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  std::uint64_t n = 0;
  const char* digits_end = v.data() + v.size() - 1;
  const auto r = std::from_chars(v.data(), digits_end, n);
  if (r.ec != std::errc() || r.ptr != digits_end) return std::nullopt;
  using namespace std::chrono;
  auto round_up = [](std::uint64_t count, std::uint64_t per_ms) {
    return milliseconds((count + per_ms - 1) / per_ms);
  };
  switch (v.back()) {
    case 'H':
      return duration_cast<milliseconds>(hours(n));
    case 'M':
      return duration_cast<milliseconds>(minutes(n));
    case 'S':
      return duration_cast<milliseconds>(seconds(n));
    case 'm':
      return milliseconds(n);
    case 'u':
      return round_up(n, 1000);
    case 'n':
      return round_up(n, 1000000);
    default:
      return std::nullopt;
  }
}

void encode_message(std::string_view text, std::string& out) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c <= 0x7E && c != '%') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}

int parse_status(std::string_view v) noexcept {
  int n = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), n);
  return r.ec == std::errc() && r.ptr == v.data() + v.size() && n >= 0 ? n : -1;
}

void append_frame(std::string_view message, std::string& out) {
  const auto n = static_cast<std::uint32_t>(message.size());
  out.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xFF));
  out.append(message);
}

bool unframe(std::string_view bytes, std::string_view& message) noexcept {
  if (bytes.size() < 5 || bytes[0] != '\0') return false;
  std::uint32_t n = 0;
  for (int i = 1; i < 5; ++i)
    n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  if (bytes.size() - 5 < n) return false;
  message = bytes.substr(5, n);
  return true;
}

}  // namespace gateway::grpc
