#include "upstream/retry_rules.hpp"

#include <algorithm>

#include "http1/http1_parser.hpp"

namespace gateway {

bool retriable_method(const retry_policy* policy, std::string_view method) noexcept {
  if (!policy || policy->methods.empty()) return http1::is_idempotent(method);
  for (const std::string& m : policy->methods)
    if (m == method) return true;
  return false;
}

bool retries_status(const retry_policy* policy, int status) noexcept {
  if (!policy) return false;
  const auto& on = policy->retry_on;
  if (on.server_error && status >= 500) return true;
  if (on.gateway_error && (status == 502 || status == 503 || status == 504)) return true;
  if (on.retriable_4xx && status == 409) return true;
  return on.status_codes &&
         std::find(policy->codes.begin(), policy->codes.end(), status) != policy->codes.end();
}

bool retries_outcome(const retry_policy& policy, try_outcome result) noexcept {
  const auto& on = policy.retry_on;
  const bool any_failure = on.server_error || on.gateway_error;
  switch (result) {
    case try_outcome::retry_status:
      return true;
    case try_outcome::connect_failed:
      return on.connect_failure || any_failure;
    case try_outcome::upstream_failed:
    case try_outcome::timeout:
      return on.reset || any_failure;
    default:
      return false;
  }
}

std::chrono::milliseconds retry_backoff(const retry_policy& policy, std::uint32_t tries,
                                        std::uint64_t random_bits) noexcept {
  const auto base = policy.backoff.count() > 0 ? policy.backoff : std::chrono::milliseconds(25);
  const auto cap = policy.max_backoff.count() > 0 ? policy.max_backoff : base * 10;
  const auto wait = std::min(base * (1u << std::min(tries == 0 ? 0u : tries - 1, 16u)), cap);
  const auto jittered = wait / 2 + std::chrono::milliseconds(
                                       random_bits % static_cast<std::uint64_t>(wait.count() + 1));
  return std::min(jittered, cap);
}

bool retry_room(cluster_state& cs, std::uint32_t retries_now) noexcept {
  const circuit_breaker_config& cb = cs.config().circuit_breakers;
  if (retries_now >= cb.max_retries) {
    cs.overflow_retries.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (cb.retry_budget_percent) {
    // Envoy's retry budget: retries in flight may be this share of the
    // requests in flight (this one is between tries, so counted as one).
    const std::uint64_t active = cs.requests.load(std::memory_order_relaxed) + 1;
    const std::uint64_t allowed = std::max<std::uint64_t>(cb.retry_budget_min_concurrency,
                                                          active * cb.retry_budget_percent / 100);
    if (retries_now + 1 > allowed) {
      cs.retries_budget_refused.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  return true;
}

bool cluster_connections_full(const cluster_state& cs) noexcept {
  return cs.connections.load(std::memory_order_relaxed) >=
         cs.config().circuit_breakers.max_connections;
}

bool connection_room(const cluster_state& cs, const endpoint_state& ep) noexcept {
  const circuit_breaker_config& cb = cs.config().circuit_breakers;
  return !cluster_connections_full(cs) &&
         (cb.max_connections_per_endpoint == 0 ||
          ep.connections.load(std::memory_order_relaxed) < cb.max_connections_per_endpoint);
}

}  // namespace gateway
