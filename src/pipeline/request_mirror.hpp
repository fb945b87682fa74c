#pragma once
// RequestMirror: a copy of a request sent to another cluster, its answer read
// and dropped. It runs as its own coroutine on the worker, so the request it
// copies never waits for it and never fails because of it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "asio/asio.hpp"
#include "client/outbound_call.hpp"
#include "core/metrics.hpp"

namespace gateway {

// Per-worker mirror accounting: gateway_mirror_requests_total{result} in its
// fixed counters ("sent": a response head, any status, came back; "failed";
// "skipped": body not replayable, or too many in flight), and the copies in flight.
struct mirror_counters {
  metrics::block& counted;
  std::size_t in_flight = 0;
};

// The largest request body a mirror copies; larger or streamed bodies are not mirrored.
inline constexpr std::size_t max_mirrored_body = 64 * 1024;
// Mirrors one worker keeps in flight at most; beyond that, copies are skipped
// so a slow mirror target cannot pile up memory and descriptors.
inline constexpr std::size_t max_mirrors_in_flight = 256;

// One copy, owning everything it sends (the request it copies may be gone
// before it is).
struct mirror_copy {
  outbound_target to;  // its `tls` is `tls` below
  std::shared_ptr<const tls::client_context> tls;
  std::string method, authority, target, body;
  std::vector<std::pair<std::string, std::string>> fields;  // end-to-end, without Host
  std::chrono::milliseconds connect_timeout{0}, timeout{0};
};

// Sends `copy` on a connection of its own and reads its answer; counted as
// sent when a response head came back. `counters` must outlive the coroutine
// (the worker does).
asio::awaitable<void> send_mirror(mirror_copy copy, mirror_counters& counters);

}  // namespace gateway
