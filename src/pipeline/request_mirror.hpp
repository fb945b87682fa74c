#pragma once
// RequestMirror: a copy of a request sent to another cluster, its answer read
// and dropped. It runs as its own coroutine on the worker, so the request it
// copies never waits for it and never fails because of it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "asio/asio.hpp"

namespace gateway {

// Per-worker mirror accounting, read by the metrics.
struct mirror_counters {
  std::uint64_t sent = 0;     // a response head (any status) came back
  std::uint64_t failed = 0;   // connect, write or read failed or timed out
  std::uint64_t skipped = 0;  // not sent: body not replayable, or too many in flight
  std::size_t in_flight = 0;
};

// The largest request body a mirror copies; larger or streamed bodies are not mirrored.
inline constexpr std::size_t max_mirrored_body = 64 * 1024;
// Mirrors one worker keeps in flight at most; beyond that, copies are skipped
// so a slow mirror target cannot pile up memory and descriptors.
inline constexpr std::size_t max_mirrors_in_flight = 256;

// Sends `request` (a complete HTTP/1.1 message that asks to close) to `to` and
// reads until the peer closes, within `connect_timeout` to connect and
// `deadline` overall. `counters` must outlive the coroutine (the worker does).
asio::awaitable<void> send_mirror(tcp::endpoint to, std::string request,
                                  std::chrono::milliseconds connect_timeout,
                                  std::chrono::milliseconds deadline, mirror_counters& counters);

class h2_single_call;

// The same for an HTTP/2 (h2c) cluster: `call` on a connection of its own;
// sent when a response head came back.
asio::awaitable<void> send_mirror_h2(tcp::endpoint to, std::unique_ptr<h2_single_call> call,
                                     std::chrono::milliseconds connect_timeout,
                                     std::chrono::milliseconds deadline, mirror_counters& counters);

}  // namespace gateway
