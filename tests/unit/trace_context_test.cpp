// W3C traceparent reading and writing, and the OTLP/JSON a span becomes.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include <string>

#include "tracing/span_buffer.hpp"
#include "tracing/trace_context.hpp"

using namespace gateway::tracing;

TEST_SUITE("tracing") {
  TEST_CASE("traceparent values are read as the specification says") {
    parent_context p;
    REQUIRE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", p));
    CHECK(p.trace[0] == 0x4b);
    CHECK(p.trace[15] == 0x36);
    CHECK(p.span == 0x00f067aa0ba902b7ULL);
    CHECK(p.sampled);
    REQUIRE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", p));
    CHECK_FALSE(p.sampled);
    // A later version is read by its first four fields, whatever follows a '-'.
    CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-future", p));
    CHECK(p.sampled);
    for (const char* bad :
         {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace
          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span
          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more
          "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   // not a '-' after
          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",       // short
          "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
          "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",    // not hex
          ""}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_traceparent(bad, p));
    }
  }

  TEST_CASE("a written traceparent reads back, and its span can be rewritten in place") {
    trace_id t{};
    for (std::size_t i = 0; i < t.size(); ++i)
      t[i] = static_cast<std::uint8_t>(i * 17 + 1);
    char value[traceparent_size];
    write_traceparent(value, t, 0x0123456789abcdefULL, true);
    const std::string text(value, sizeof value);
    CHECK(text == "00-0112233445566778899aabbccddeef00-0123456789abcdef-01");
    set_traceparent_span(value, 0xfedcba9876543210ULL);
    parent_context p;
    REQUIRE(parse_traceparent(std::string_view(value, sizeof value), p));
    CHECK(p.trace == t);
    CHECK(p.span == 0xfedcba9876543210ULL);
  }

  TEST_CASE("spans become OTLP/JSON, and a full buffer drops and counts") {
    trace_id t{};
    t[15] = 1;
    const attribute attrs[] = {text_attribute("http.request.method", "GET"),
                               number_attribute("http.response.status_code", 503)};
    const attribute facts[] = {text_attribute("waf.action", "deny \"quoted\"")};
    const event events[] = {{"waf", 1500, facts}};
    span_data s;
    s.trace = &t;
    s.id = 2;
    s.parent = 3;
    s.name = "GET default/app";
    s.kind = span_kind::server;
    s.start_ns = 1000;
    s.end_ns = 2000;
    s.error = true;
    s.message = "no response";
    s.attributes = attrs;
    s.events = events;
    span_buffer b;
    b.add(s);
    s.parent = 0;
    b.add(s);
    CHECK(b.pending == 2);
    std::string body;
    write_export_request(body, "edge", b.json);
    const auto doc = boost::json::parse(body);
    const auto& rs = doc.at("resourceSpans").at(0);
    CHECK(rs.at("resource").at("attributes").at(0).at("value").at("stringValue") == "edge");
    const auto& spans = rs.at("scopeSpans").at(0).at("spans").as_array();
    REQUIRE(spans.size() == 2);
    const auto& first = spans[0];
    CHECK(first.at("traceId") == "00000000000000000000000000000001");
    CHECK(first.at("spanId") == "0000000000000002");
    CHECK(first.at("parentSpanId") == "0000000000000003");
    CHECK_FALSE(spans[1].as_object().contains("parentSpanId"));
    CHECK(first.at("kind") == 2);
    CHECK(first.at("startTimeUnixNano") == "1000");
    CHECK(first.at("endTimeUnixNano") == "2000");
    CHECK(first.at("attributes").at(1).at("value").at("intValue") == "503");
    CHECK(first.at("events").at(0).at("name") == "waf");
    CHECK(first.at("events").at(0).at("attributes").at(0).at("value").at("stringValue") ==
          "deny \"quoted\"");
    CHECK(first.at("status").at("code") == 2);

    b.limit = b.json.size();  // full
    b.add(s);
    CHECK(b.dropped == 1);
    CHECK(b.recorded == 2);
  }
}
