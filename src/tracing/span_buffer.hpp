#pragma once
// Spans as OTLP/JSON (opentelemetry-proto's JSON mapping: hex ids, times as
// decimal strings of Unix nanoseconds) appended to a worker's buffer between
// batches. The buffer is the worker's own (no lock): the exporter takes it
// on the worker's thread and hands back an empty one, so a span costs an
// append into memory that stays allocated.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tracing/trace_context.hpp"

namespace gateway::tracing {

// An attribute: a text or a number.
struct attribute {
  std::string_view key;
  std::string_view text;
  std::int64_t number = 0;
  bool is_number = false;
};
inline attribute text_attribute(std::string_view key, std::string_view value) {
  return {key, value, 0, false};
}
inline attribute number_attribute(std::string_view key, std::int64_t value) {
  return {key, {}, value, true};
}

// Something that happened during a span (a WAF or filter decision).
struct event {
  std::string_view name;
  std::int64_t time_ns = 0;
  std::span<const attribute> attributes;
};

enum class span_kind : std::uint8_t { server = 2, client = 3 };  // OTLP's numbers

struct span_data {
  const trace_id* trace = nullptr;
  std::uint64_t id = 0, parent = 0;  // parent 0: a root span
  std::string_view name;
  span_kind kind = span_kind::server;
  std::int64_t start_ns = 0, end_ns = 0;
  bool error = false;  // OTLP status ERROR, with `message`
  std::string_view message;
  std::span<const attribute> attributes;
  std::span<const event> events;
};

// A worker's spans since the last batch: JSON span objects separated by commas.
struct span_buffer {
  std::string json;
  std::size_t limit = 4 << 20;  // bytes; a span past it is dropped
  std::uint64_t recorded = 0, dropped = 0;
  std::size_t pending = 0;  // spans in `json`

  // Appends `s`, or counts it dropped when the buffer is at its limit.
  void add(const span_data& s);
};

// Wraps spans (span_buffer::json pieces, comma-separated) into an OTLP
// ExportTraceServiceRequest from `service`.
void write_export_request(std::string& out, std::string_view service, std::string_view spans);

}  // namespace gateway::tracing
