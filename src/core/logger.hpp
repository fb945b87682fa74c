#pragma once
// The library's internal logger: a level check first, so a line that is off
// costs one comparison and formats nothing.
#include <gateway/log.hpp>

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace gateway {

class logger {
 public:
  logger() = default;
  logger(log_level level, log_sink sink) : level_(level), sink_(std::move(sink)) {}

  bool enabled(log_level level) const noexcept {
    return level >= level_ && level_ != log_level::off;
  }

  template <typename... Parts>
  void log(log_level level, const Parts&... parts) const {
    if (!enabled(level)) return;
    std::string line;
    line.reserve(128);
    (append(line, parts), ...);
    write(level, line);
  }

 private:
  static void append(std::string& out, std::string_view s) { out.append(s); }
  static void append(std::string& out, const char* s) { out.append(s); }
  static void append(std::string& out, const std::string& s) { out.append(s); }
  static void append(std::string& out, const std::error_code& ec) { out.append(ec.message()); }
  template <typename T>
  requires std::is_integral_v<T>
  static void append(std::string& out, T v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
  void write(log_level level, std::string_view line) const;

  log_level level_ = log_level::info;
  log_sink sink_;
};

}  // namespace gateway
