// A request's spans (OpenTelemetry, W3C Trace Context): the server span from
// its first byte to its end, a client span per upstream try, recorded into
// the worker's span buffer when the request ends. Only sampled requests of
// listeners that trace get here past the first check.
#include <array>
#include <chrono>

#include "server/worker.hpp"
#include "stream/stream.hpp"
#include "tracing/span_buffer.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {

std::int64_t unix_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t nonzero(std::uint64_t v) noexcept {
  return v ? v : 1;
}

// A span of the request's trace; its attributes, events and status are the caller's.
tracing::span_data span_of(const tracing::request_trace& t, tracing::span_kind kind,
                           std::uint64_t id, std::uint64_t parent, std::string_view name,
                           std::int64_t start_ns, std::int64_t end_ns) noexcept {
  tracing::span_data s;
  s.trace = &t.trace;
  s.id = id;
  s.parent = parent;
  s.name = name;
  s.kind = kind;
  s.start_ns = start_ns;
  s.end_ns = end_ns;
  return s;
}

}  // namespace

void stream::begin_trace() noexcept {
  trace_.try_open = false;
  trace_.tries = 0;
  const std::optional<tracing_config>& t = listener_->config.tracing;
  tracing::parent_context parent;
  const http::header* given = http::find_header(request_.headers, "traceparent");
  if (given && tracing::parse_traceparent(given->value, parent)) {
    // The client decided: an unsampled context goes on as it came.
    if (!parent.sampled) return;
    trace_.trace = parent.trace;
    trace_.parent = parent.span;
  } else {
    if (t->sampling_numerator == 0 ||
        (t->sampling_numerator < t->sampling_denominator &&
         worker_.random() % t->sampling_denominator >= t->sampling_numerator))
      return;
    const std::uint64_t hi = worker_.random(), lo = nonzero(worker_.random());
    for (int i = 0; i < 8; ++i) {
      trace_.trace[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
      trace_.trace[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
    }
    trace_.parent = 0;
  }
  trace_.on = true;
  trace_.span = nonzero(worker_.random());
  // The span starts with the request's first byte, on the wall clock.
  trace_.start_ns = unix_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    steady_clock::now() - record_.start)
                                    .count();
  tracing::write_traceparent(trace_.traceparent, trace_.trace, trace_.span, true);
  trace_.try_status = 0;
}

void stream::begin_try_span() noexcept {
  if (trace_.try_open) end_try_span();  // the try before ended without a relayed answer
  trace_.try_open = true;
  trace_.try_status = 0;
  trace_.try_span = nonzero(worker_.random());
  trace_.try_start_ns = unix_ns();
  // The try's context goes out in the neutral fields (they view
  // trace_.traceparent) and in the HTTP/1.1 text made from them.
  tracing::set_traceparent_span(trace_.traceparent, trace_.try_span);
  static constexpr std::string_view field = "\r\ntraceparent: "sv;
  if (const std::size_t at = head_out_.find(field); at != std::string::npos)
    tracing::set_traceparent_span(head_out_.data() + at + field.size(), trace_.try_span);
}

void stream::end_try_span() noexcept {
  trace_.try_open = false;
  const std::string_view method = upstream_request_.method.empty()
                                      ? std::string_view(record_.method)
                                      : upstream_request_.method;
  char peer[64];
  const std::size_t peer_len = write_upstream_address(peer);
  std::array<tracing::attribute, 6> a;
  std::size_t n = 0;
  a[n++] = tracing::text_attribute("http.request.method", method);
  if (peer_len) {
    const std::string_view p(peer, peer_len);
    a[n++] = tracing::text_attribute("network.peer.address", p.substr(0, p.rfind(':')));
    a[n++] = tracing::number_attribute("network.peer.port", record_.upstream_address.port());
  }
  if (trace_.try_status)
    a[n++] = tracing::number_attribute("http.response.status_code", trace_.try_status);
  if (trace_.tries) a[n++] = tracing::number_attribute("http.request.resend_count", trace_.tries);
  ++trace_.tries;
  tracing::span_data s = span_of(trace_, tracing::span_kind::client, trace_.try_span, trace_.span,
                                 method, trace_.try_start_ns, unix_ns());
  s.error = trace_.try_status == 0 || trace_.try_status >= 500;
  s.message = trace_.try_status == 0 ? "no response"sv : ""sv;
  s.attributes = {a.data(), n};
  worker_.spans().add(s);
}

void stream::end_trace(std::uint64_t micros) noexcept {
  if (trace_.try_open) end_try_span();
  tracing::span_buffer& out = worker_.spans();
  out.limit = listener_->config.tracing ? listener_->config.tracing->max_queued_bytes : out.limit;
  const std::int64_t end = trace_.start_ns + static_cast<std::int64_t>(micros) * 1000;

  std::array<tracing::attribute, 13> a;
  std::size_t n = 0;
  a[n++] = tracing::text_attribute("http.request.method", record_.method);
  const std::string_view target = record_.target;
  a[n++] = tracing::text_attribute("url.path", target.substr(0, target.find('?')));
  a[n++] = tracing::text_attribute("url.scheme", down_->https ? "https"sv : "http"sv);
  a[n++] =
      tracing::text_attribute("network.protocol.version", request_.version_major == 2   ? "2"sv
                                                          : request_.version_minor == 0 ? "1.0"sv
                                                                                        : "1.1"sv);
  a[n++] = tracing::text_attribute("client.address", client_view());
  if (!record_.host.empty()) a[n++] = tracing::text_attribute("server.address", record_.host);
  if (record_.status)
    a[n++] = tracing::number_attribute("http.response.status_code", record_.status);
  if (record_.grpc_status >= 0)
    a[n++] = tracing::number_attribute("rpc.grpc.status_code", record_.grpc_status);
  const std::string_view route = record_.route_name;
  if (!route.empty()) a[n++] = tracing::text_attribute("http.route", route);
  a[n++] = tracing::text_attribute("gateway.listener", listener_->config.name);
  a[n++] = tracing::text_attribute("gateway.request_id", request_id());

  // What filters and the WAF decided (their metadata), one event per filter:
  // "waf" with waf.action and waf.rules, "jwt" with jwt.sub, ...
  std::array<tracing::attribute, 16> facts;
  std::array<tracing::event, 8> events;
  std::size_t facts_n = 0, events_n = 0;
  if (filters_.active()) {
    for (const auto& [key, value] : filters_.all_metadata()) {
      if (facts_n == facts.size()) break;
      const std::string_view k = key;
      const std::string_view filter = k.substr(0, k.find('.'));
      if (events_n == 0 || events[events_n - 1].name != filter) {
        if (events_n == events.size()) break;
        events[events_n++] = {filter, end, {facts.data() + facts_n, 0}};
      }
      facts[facts_n++] = tracing::text_attribute(k, value);
      tracing::event& e = events[events_n - 1];
      e.attributes = {e.attributes.data(), e.attributes.size() + 1};
    }
  }

  // "GET default/app" (the route, low-cardinality), or the method alone.
  route_span_name_.assign(record_.method);
  if (!route.empty()) route_span_name_.append(" ").append(route);
  tracing::span_data s = span_of(trace_, tracing::span_kind::server, trace_.span, trace_.parent,
                                 route_span_name_, trace_.start_ns, end);
  s.error = record_.status == 0 || record_.status >= 500;
  s.message = record_.status == 0 ? "no response sent"sv : ""sv;
  s.attributes = {a.data(), n};
  s.events = {events.data(), events_n};
  out.add(s);
  trace_.on = false;
}

}  // namespace gateway
