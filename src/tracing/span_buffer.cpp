#include "tracing/span_buffer.hpp"

#include <charconv>

#include "core/json_writer.hpp"

namespace gateway::tracing {

namespace {

// OTLP/JSON writes 64-bit integers as strings.
void int_string(json_writer& w, std::string_view key, std::int64_t v) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  w.field(key, std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

void write_attributes(json_writer& w, std::span<const attribute> attributes) {
  w.key("attributes").begin_array();
  for (const attribute& a : attributes) {
    w.begin_object().field("key", a.key).key("value").begin_object();
    if (a.is_number)
      int_string(w, "intValue", a.number);
    else
      w.field("stringValue", a.text);
    w.end_object().end_object();
  }
  w.end_array();
}

}  // namespace

void span_buffer::add(const span_data& s) {
  if (json.size() >= limit) {
    ++dropped;
    return;
  }
  ++recorded;
  ++pending;
  if (!json.empty()) json.push_back(',');
  json_writer w(json);
  char id[32];
  w.begin_object();
  write_hex(id, s.trace->data(), 16);
  w.field("traceId", std::string_view(id, 32));
  write_span_hex(id, s.id);
  w.field("spanId", std::string_view(id, 16));
  if (s.parent) {
    write_span_hex(id, s.parent);
    w.field("parentSpanId", std::string_view(id, 16));
  }
  w.field("name", s.name).field("kind", static_cast<int>(s.kind));
  int_string(w, "startTimeUnixNano", s.start_ns);
  int_string(w, "endTimeUnixNano", s.end_ns);
  write_attributes(w, s.attributes);
  if (!s.events.empty()) {
    w.key("events").begin_array();
    for (const event& e : s.events) {
      w.begin_object();
      int_string(w, "timeUnixNano", e.time_ns);
      w.field("name", e.name);
      write_attributes(w, e.attributes);
      w.end_object();
    }
    w.end_array();
  }
  w.key("status").begin_object();
  if (s.error) w.field("code", 2).field("message", s.message);  // STATUS_CODE_ERROR
  w.end_object();
  w.end_object();
}

void write_export_request(std::string& out, std::string_view service, std::string_view spans) {
  out.clear();
  json_writer w(out);
  w.begin_object().key("resourceSpans").begin_array().begin_object();
  w.key("resource").begin_object();
  const attribute resource[] = {text_attribute("service.name", service),
                                text_attribute("telemetry.sdk.name", "gateway")};
  write_attributes(w, resource);
  w.end_object();
  w.key("scopeSpans").begin_array().begin_object();
  w.key("scope").begin_object().field("name", "gateway").end_object();
  w.key("spans").begin_array().raw(spans).end_array();
  w.end_object().end_array();
  w.end_object().end_array().end_object();
}

}  // namespace gateway::tracing
