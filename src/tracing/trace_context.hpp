#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/) for one request:
// the traceparent read from the client, the ids of the gateway's own spans,
// and the traceparent each upstream try is sent. Plain data on the stream;
// nothing here allocates.
#include <array>
#include <cstdint>
#include <string_view>

namespace gateway::tracing {

using trace_id = std::array<std::uint8_t, 16>;

// What a traceparent field says.
struct parent_context {
  trace_id trace{};
  std::uint64_t span = 0;
  bool sampled = false;
};

// Reads a traceparent value; false when it is not a valid one (then a new
// trace starts). Versions after 00 are read by their first four fields, as
// the specification asks.
bool parse_traceparent(std::string_view value, parent_context& out) noexcept;

// The traceparent value of a span: 55 characters, written into `out`.
inline constexpr std::size_t traceparent_size = 55;
void write_traceparent(char* out, const trace_id& trace, std::uint64_t span, bool sampled) noexcept;
// Rewrites the span id of a value write_traceparent made.
void set_traceparent_span(char* value, std::uint64_t span) noexcept;

// Lowercase hex of `bytes` into `out` (2 characters a byte).
void write_hex(char* out, const std::uint8_t* bytes, std::size_t n) noexcept;
// A span id as 16 hex characters, big-endian.
void write_span_hex(char* out, std::uint64_t span) noexcept;

}  // namespace gateway::tracing
