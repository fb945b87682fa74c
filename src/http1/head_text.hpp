#pragma once
// A small writer for numbers in text (the access log, metrics, filters).
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

}  // namespace gateway
