#pragma once
// Eight bytes at a time for the head-handling loops that run on every
// request (field-name comparison, field-value validation): a byte-at-a-time
// loop with a branch per byte cost several instructions per byte there.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gateway::swar {

inline constexpr std::uint64_t ones = 0x0101010101010101ULL;
inline constexpr std::uint64_t highs = 0x8080808080808080ULL;

// Eight bytes from `p` (any alignment), first byte lowest.
inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}
// Four bytes from `p`, first byte lowest.
inline std::uint32_t load4(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

// Stores `v` at `p` (any alignment), lowest byte first.
inline void store8(char* p, std::uint64_t v) noexcept {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

// Each byte of `x` in A-Z to a-z; every other byte, non-ASCII ones included,
// unchanged. No byte's arithmetic carries into the next: seven bits plus at
// most 0x3f stays below 0x100.
inline std::uint64_t fold_case(std::uint64_t x) noexcept {
  const std::uint64_t low7 = x & ~highs;
  const std::uint64_t at_least_a = low7 + (0x80 - 'A') * ones;
  const std::uint64_t past_z = low7 + (0x80 - 'Z' - 1) * ones;
  const std::uint64_t upper = at_least_a & ~past_z & ~x & highs;
  return x | (upper >> 2);  // 0x80 of an upper-case byte becomes its 0x20
}

// `from` copied to `to` with A-Z as a-z. The ranges must not overlap.
inline void lower_copy(char* to, const char* from, std::size_t n) noexcept {
  if (n >= 8) {
    // Whole words, then the last eight bytes again (overlapping the last word).
    for (std::size_t i = 0; i + 8 <= n; i += 8)
      store8(to + i, fold_case(load8(from + i)));
    store8(to + n - 8, fold_case(load8(from + n - 8)));
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const char c = from[i];
    to[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
  }
}

// Whether any byte of `x` is below 0x20 or is 0x7f (DEL). Exact as a yes or
// no; which byte it was is not given.
inline bool has_control(std::uint64_t x) noexcept {
  const std::uint64_t below_space = (x - 0x20 * ones) & ~x & highs;
  const std::uint64_t del = x ^ (0x7f * ones);
  const std::uint64_t is_del = (del - ones) & ~del & highs;
  return (below_space | is_del) != 0;
}

}  // namespace gateway::swar
