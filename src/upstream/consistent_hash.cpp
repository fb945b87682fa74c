#include <gateway/error.hpp>
#include <gateway/upstream.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <cstring>

#include "upstream/primes.hpp"

namespace gateway {

namespace {
constexpr std::uint64_t mul1 = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t mul2 = 0xC2B2AE3D27D4EB4FULL;

std::uint64_t finish(std::uint64_t h) noexcept {  // splitmix64's finalizer
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

std::uint64_t hash_with(std::string_view text, std::uint64_t seed) noexcept {
  std::uint64_t h = seed ^ (text.size() * mul1);
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t k;
    std::memcpy(&k, text.data() + i, 8);
    k *= mul2;
    k ^= k >> 29;
    h = (h ^ k) * mul1;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, text.data() + i, text.size() - i);
  h = (h ^ (tail * mul2)) * mul1;
  return finish(h);
}

}  // namespace

std::uint64_t hash_key(std::string_view text) noexcept {
  return hash_with(text, 0);
}

consistent_hash::consistent_hash(lb_policy kind, std::span<const std::string> names,
                                 std::span<const std::uint32_t> weights, std::uint32_t size)
    : kind_(kind) {
  if (names.empty() || names.size() != weights.size())
    throw error(errc::invalid_config, "consistent_hash: no endpoints");
  if (std::find(weights.begin(), weights.end(), 0u) != weights.end())
    throw error(errc::invalid_config, "consistent_hash: weight 0");
  const std::uint32_t heaviest = *std::max_element(weights.begin(), weights.end());
  if (kind == lb_policy::maglev) {
    if (!is_prime(size) || size < names.size())
      throw error(
          errc::invalid_config,
          fmt::format("maglev table size {} must be a prime at least the number of endpoints",
                      size));
    // Maglev (Eisenbud et al.): each endpoint walks its own permutation of the
    // table (offset, skip from two hashes of its name) and claims the next free
    // slot on its turn. Turns come in proportion to weight: an endpoint earns
    // weight/heaviest of a turn per round and takes one per whole turn earned.
    const std::size_t n = names.size();
    std::vector<std::uint64_t> offset(n), skip(n), next(n, 0);
    std::vector<double> earned(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      offset[i] = hash_with(names[i], 1) % size;
      skip[i] = hash_with(names[i], 2) % (size - 1) + 1;
    }
    constexpr std::uint32_t empty = ~0u;
    maglev_.assign(size, empty);
    std::uint32_t filled = 0;
    while (filled < size) {
      for (std::size_t i = 0; i < n && filled < size; ++i) {
        earned[i] += static_cast<double>(weights[i]) / heaviest;
        if (earned[i] < 1.0) continue;
        earned[i] -= 1.0;
        std::uint64_t slot;
        do {
          slot = (offset[i] + next[i] * skip[i]) % size;
          ++next[i];
        } while (maglev_[slot] != empty);
        maglev_[slot] = static_cast<std::uint32_t>(i);
        ++filled;
      }
    }
    return;
  }
  if (kind != lb_policy::ring_hash)
    throw error(errc::invalid_config, "consistent_hash: policy is not a hashing one");
  // Ketama-style ring: each endpoint gets points in proportion to its weight,
  // `size` for the heaviest, whatever the others are, so the points of the
  // endpoints that stay do not move when one leaves. Scaled down to stay
  // within 2^20 points (16 MiB) in all.
  std::uint64_t total = 0;
  for (std::uint32_t w : weights)
    total += (static_cast<std::uint64_t>(size) * w + heaviest - 1) / heaviest;
  constexpr std::uint64_t max_points = 1u << 20;
  const double scale = total > max_points ? static_cast<double>(max_points) / total : 1.0;
  std::string point_name;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::uint64_t wanted =
        (static_cast<std::uint64_t>(size) * weights[i] + heaviest - 1) / heaviest;
    const auto points = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted * scale));
    for (std::uint64_t p = 0; p < points; ++p) {
      point_name.assign(names[i]);
      point_name.push_back('_');
      point_name.append(std::to_string(p));
      ring_.emplace_back(hash_key(point_name), static_cast<std::uint32_t>(i));
    }
  }
  std::sort(ring_.begin(), ring_.end());
}

std::size_t consistent_hash::pick(std::uint64_t key_hash) const noexcept {
  if (kind_ == lb_policy::maglev) return maglev_[key_hash % maglev_.size()];
  auto it = std::lower_bound(ring_.begin(), ring_.end(), key_hash,
                             [](const auto& point, std::uint64_t h) { return point.first < h; });
  if (it == ring_.end()) it = ring_.begin();  // wraps around
  return it->second;
}

}  // namespace gateway
