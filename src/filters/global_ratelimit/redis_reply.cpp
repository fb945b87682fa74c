// RESP replies as the global rate limit's Redis client reads them.
#include "filters/global_ratelimit/redis_reply.hpp"

namespace gateway::filters {

namespace {

constexpr std::size_t malformed = std::string_view::npos;
// Arrays within arrays: the replies the client asks for nest one deep; a
// server sending more is not one to follow down (a deep nesting would be a
// deep recursion).
constexpr int max_depth = 4;

std::size_t parse(std::string_view in, std::int64_t& value, bool& error, int depth) {
  if (in.empty()) return 0;
  const std::size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) return 0;
  if (eol == 0) return malformed;
  const char type = in[0];
  const std::string_view line = in.substr(1, eol - 1);
  std::int64_t n = 0;
  // A decimal integer of at most 18 digits (so it cannot overflow).
  auto number = [&] {
    std::size_t i = line.starts_with('-') ? 1 : 0;
    if (i == line.size() || line.size() - i > 18) return false;
    for (; i < line.size(); ++i) {
      if (line[i] < '0' || line[i] > '9') return false;
      n = n * 10 + (line[i] - '0');
    }
    if (line.starts_with('-')) n = -n;
    return true;
  };
  switch (type) {
    case '+':
      value = 0;
      return eol + 2;
    case '-':
      error = true;
      return eol + 2;
    case ':':
      if (!number()) return malformed;
      value = n;
      return eol + 2;
    case '$': {
      if (!number()) return malformed;
      if (n < 0) return n == -1 ? eol + 2 : malformed;  // null
      const std::size_t data_end = eol + 2 + static_cast<std::size_t>(n);
      if (in.size() < data_end + 2) return 0;
      return in.substr(data_end, 2) == "\r\n" ? data_end + 2 : malformed;
    }
    case '*': {
      if (!number()) return malformed;
      if (n < 0) return n == -1 ? eol + 2 : malformed;  // null array
      if (depth >= max_depth) return malformed;
      std::size_t used = eol + 2;
      for (std::int64_t i = 0; i < n; ++i) {
        std::int64_t ignored = 0;
        bool e = false;
        const std::size_t m = parse(in.substr(used), ignored, e, depth + 1);
        if (m == 0 || m == malformed) return m;
        used += m;
      }
      return used;
    }
    default:
      return malformed;
  }
}

}  // namespace

std::size_t parse_redis_reply(std::string_view in, std::int64_t& value, bool& error) {
  return parse(in, value, error, 0);
}

}  // namespace gateway::filters
