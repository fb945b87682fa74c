#include "tracing/trace_context.hpp"

namespace gateway::tracing {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not allowed in a traceparent
}

// `n` bytes from 2n lowercase hex characters; false on any other character.
bool read_hex(std::string_view text, std::uint8_t* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool all_zero(const std::uint8_t* bytes, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i]) return false;
  return true;
}

}  // namespace

bool parse_traceparent(std::string_view v, parent_context& out) noexcept {
  // version "-" trace-id "-" parent-id "-" trace-flags
  if (v.size() < traceparent_size || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  std::uint8_t version = 0;
  if (!read_hex(v.substr(0, 2), &version, 1) || version == 0xff) return false;
  if (version == 0 && v.size() != traceparent_size) return false;
  if (version != 0 && v.size() > traceparent_size && v[traceparent_size] != '-') return false;
  parent_context p;
  std::uint8_t span[8], flags = 0;
  if (!read_hex(v.substr(3, 32), p.trace.data(), 16) || !read_hex(v.substr(36, 16), span, 8) ||
      !read_hex(v.substr(53, 2), &flags, 1))
    return false;
  if (all_zero(p.trace.data(), 16) || all_zero(span, 8)) return false;
  for (std::uint8_t b : span)
    p.span = p.span << 8 | b;
  p.sampled = flags & 1;
  out = p;
  return true;
}

void write_hex(char* out, const std::uint8_t* bytes, std::size_t n) noexcept {
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
}

void write_span_hex(char* out, std::uint64_t span) noexcept {
  std::uint8_t bytes[8];
  for (int i = 7; i >= 0; --i, span >>= 8)
    bytes[i] = static_cast<std::uint8_t>(span);
  write_hex(out, bytes, 8);
}

void write_traceparent(char* out, const trace_id& trace, std::uint64_t span,
                       bool sampled) noexcept {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  write_hex(out + 3, trace.data(), 16);
  out[35] = '-';
  write_span_hex(out + 36, span);
  out[52] = '-';
  out[53] = '0';
  out[54] = sampled ? '1' : '0';
}

void set_traceparent_span(char* value, std::uint64_t span) noexcept {
  write_span_hex(value + 36, span);
}

}  // namespace gateway::tracing
