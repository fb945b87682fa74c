#pragma once
// The upstream leg's decisions that need no I/O: whether a try's result is
// worth another, how long to wait before it, whether the cluster's breakers
// and retry budget leave room for it or for another connection. Shared by
// whatever drives the leg (the HTTP/1.1 proxy today), tested alone.
#include <gateway/router.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "upstream/cluster_state.hpp"

namespace gateway {

// How one try at the upstream ended; decides the status a client sees.
enum class try_outcome {
  ok,               // a response was relayed (possibly cut short)
  connect_failed,   // 503
  timeout,          // 504
  upstream_failed,  // 502
  client_failed,    // the client's body framing was broken: 400
  client_gone,      // the client went away or was already answered
  retry_status,     // the answer has a status the rule retries (dropped unread)
  filter_reply,     // a filter stopped the exchange with a local reply
  overflow,         // a circuit breaker refused it: 503 with x-gateway-overflow
  no_endpoint,      // the cluster has no endpoint: 503
};

// Whether `method` may be sent again once it reached the upstream: the
// policy's methods, or the idempotent ones (RFC 9110) without a list.
bool retriable_method(const retry_policy* policy, std::string_view method) noexcept;
// Whether `policy` retries a response with `status`.
bool retries_status(const retry_policy* policy, int status) noexcept;
// Whether a try that ended with `result` is worth another under `policy`
// (the request still being replayable is the caller's to know).
bool retries_outcome(const retry_policy& policy, try_outcome result) noexcept;
// The wait before retry number `tries` (1 for the first): exponential backoff
// from the policy's base with jitter from `random_bits` (0.5x to 1.5x),
// capped at its max_backoff (10x the base unless set).
std::chrono::milliseconds retry_backoff(const retry_policy& policy, std::uint32_t tries,
                                        std::uint64_t random_bits) noexcept;
// Whether the cluster's max_retries and retry budget leave room for one more
// retry when `retries_now` are in flight; counts a refusal in the cluster.
bool retry_room(cluster_state& cluster, std::uint32_t retries_now) noexcept;
// Whether the cluster's connection limits leave room for a new connection to `endpoint`.
bool connection_room(const cluster_state& cluster, const endpoint_state& endpoint) noexcept;
// Whether the cluster's own max_connections (not an endpoint's) is reached.
bool cluster_connections_full(const cluster_state& cluster) noexcept;

}  // namespace gateway
