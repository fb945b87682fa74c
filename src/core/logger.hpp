#pragma once
// The library's internal logger: a level check first, so a line that is off
// costs one comparison and formats nothing.
#include <gateway/log.hpp>

#include <fmt/format.h>

#include <string_view>
#include <type_traits>
#include <utility>

namespace gateway {

// A log line's format: fmt checks each field against its argument when the
// code compiles, and this also that there are as many fields as arguments
// (fmt alone lets an argument go unused, so a forgotten "{}" would drop it).
template <typename... Args>
struct log_format {
  template <typename S>
  consteval log_format(const S& text) : checked(text) {
    const std::string_view t(text);
    std::size_t fields = 0;
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i] == '{') {
        if (i + 1 < t.size() && t[i + 1] == '{')
          ++i;  // "{{" is a brace
        else
          ++fields;
      }
    if (fields != sizeof...(Args)) throw "the log line's format has a field per argument";
  }
  fmt::format_string<Args...> checked;
};

class logger {
 public:
  logger() = default;
  logger(log_level level, log_sink sink) : level_(level), sink_(std::move(sink)) {}

  bool enabled(log_level level) const noexcept {
    return level >= level_ && level_ != log_level::off;
  }

  // Formats the line with fmt (the format string is checked when compiled)
  // into a buffer on the stack: a line under 500 bytes allocates nothing.
  // The formatting itself is out of line: a call site costs the level check
  // and a call, so hot code that can log stays small.
  template <typename... Args>
  void log(log_level level, log_format<std::type_identity_t<Args>...> format,
           Args&&... args) const {
    if (!enabled(level)) return;
    write_formatted(level, format.checked, fmt::make_format_args(args...));
  }

 private:
  [[gnu::cold]] void write_formatted(log_level level, fmt::string_view format,
                                     fmt::format_args args) const;
  void write(log_level level, std::string_view line) const;

  log_level level_ = log_level::info;
  log_sink sink_;
};

}  // namespace gateway
