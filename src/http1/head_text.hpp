#pragma once
// Small writers for HTTP head text, shared by local replies and proxied heads.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace gateway {

// Appends `v` in decimal.
inline void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Appends "name: value\r\n".
inline void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

}  // namespace gateway
