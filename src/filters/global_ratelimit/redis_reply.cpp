// RESP replies as the global rate limit's Redis client reads them.
#include "filters/global_ratelimit/redis_reply.hpp"

namespace gateway::filters {

std::size_t parse_redis_reply(std::string_view in, std::int64_t& value, bool& error) {
  if (in.empty()) return 0;
  const std::size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) return 0;
  const char type = in[0];
  std::string_view line = in.substr(1, eol - 1);
  std::int64_t n = 0;
  bool negative = false;
  auto number = [&] {
    std::size_t i = 0;
    if (!line.empty() && line[0] == '-') negative = true, i = 1;
    if (i == line.size()) return false;
    for (; i < line.size(); ++i) {
      if (line[i] < '0' || line[i] > '9') return false;
      n = n * 10 + (line[i] - '0');
    }
    if (negative) n = -n;
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
      if (!number()) return std::string_view::npos;
      value = n;
      return eol + 2;
    case '$': {
      if (!number()) return std::string_view::npos;
      if (n < 0) return eol + 2;  // null
      const std::size_t total = eol + 2 + static_cast<std::size_t>(n) + 2;
      return in.size() < total ? 0 : total;
    }
    case '*': {
      if (!number()) return std::string_view::npos;
      std::size_t used = eol + 2;
      for (std::int64_t i = 0; i < n; ++i) {
        std::int64_t ignored = 0;
        bool e = false;
        std::size_t m = parse_redis_reply(in.substr(used), ignored, e);
        if (m == 0 || m == std::string_view::npos) return m;
        used += m;
      }
      return used;
    }
    default:
      return std::string_view::npos;
  }
}

}  // namespace gateway::filters
