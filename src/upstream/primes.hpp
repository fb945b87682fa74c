#pragma once
// Primes for Maglev tables (their size must be one).
#include <cstdint>

namespace gateway {

inline bool is_prime(std::uint32_t n) noexcept {
  if (n < 2) return false;
  for (std::uint32_t d = 2; static_cast<std::uint64_t>(d) * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

// The smallest prime >= n.
inline std::uint32_t next_prime(std::uint32_t n) noexcept {
  while (!is_prime(n))
    ++n;
  return n;
}

}  // namespace gateway
