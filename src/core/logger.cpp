#include "core/logger.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iterator>

namespace gateway {

void logger::write_formatted(log_level level, fmt::string_view format,
                             fmt::format_args args) const {
  fmt::memory_buffer line;
  fmt::vformat_to(std::back_inserter(line), format, args);
  write(level, std::string_view(line.data(), line.size()));
}

void logger::write(log_level level, std::string_view line) const {
  if (sink_) {
    sink_(level, line);
    return;
  }
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  auto name = to_string(level);
  // One fprintf per line keeps lines from different workers whole.
  std::fprintf(stderr, "%s.%03dZ %.*s %.*s\n", stamp, static_cast<int>(ms),
               static_cast<int>(name.size()), name.data(), static_cast<int>(line.size()),
               line.data());
}

}  // namespace gateway
