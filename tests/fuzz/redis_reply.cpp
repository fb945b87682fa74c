// What a Redis server (or whatever answers on its address) sends the global
// rate limit: RESP replies read from a buffer that fills over several reads.
// Never a crash, and a property of a streaming parser: a reply found whole
// at n bytes is "incomplete" (or already malformed) at every shorter prefix,
// and parses the same again on its own.
#include <cstdint>
#include <string_view>

#include "filters/global_ratelimit/redis_reply.hpp"
#include "fuzz_check.hpp"

using namespace gateway;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr std::size_t malformed = std::string_view::npos;
  for (int replies = 0; replies < 16 && !in.empty(); ++replies) {
    std::int64_t value = 0;
    bool error = false;
    const std::size_t n = filters::parse_redis_reply(in, value, error);
    if (n == 0 || n == malformed) break;
    FUZZ_CHECK(n <= in.size());
    for (std::size_t cut = 0; cut < n; cut += 1 + cut / 8) {
      std::int64_t v = 0;
      bool e = false;
      const std::size_t m = filters::parse_redis_reply(in.substr(0, cut), v, e);
      FUZZ_CHECK(m == 0 || m == malformed);
    }
    std::int64_t again = 0;
    bool error_again = false;
    FUZZ_CHECK(filters::parse_redis_reply(in.substr(0, n), again, error_again) == n);
    FUZZ_CHECK(again == value && error_again == error);
    in.remove_prefix(n);
  }
  return 0;
}
