#pragma once
// Every metric the gateway exposes, declared once, in the table below: name,
// type, where its numbers live, its labels and its help. A family's storage
// (slots in a worker's block or in a stats series) is laid out from the table
// at compile time, its call sites name it through `slot` (a name or label
// value missing from the table fails the build), and the Prometheus text is
// written from the table alone, so adding a metric is one row here and the
// line that counts it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gateway::metrics {

enum class type : std::uint8_t { counter, gauge, histogram };

// Where a family's numbers live.
enum class source : std::uint8_t {
  // A slot per label value in `block`: each worker counts into its own block,
  // a scrape sums them, and the server sets its own families in the sum.
  fixed,
  // A slot per label value in each stats series (listener, route, backend),
  // which those three labels come before; a histogram takes a slot per bucket
  // and one for its sum.
  series,
  // Rows its owner writes at a scrape from state it keeps (upstream
  // clusters, certificates, the WAF's rule matches, filters' counters).
  rows,
};

// Who writes a `rows` family's rows.
enum class owner : std::uint8_t { none, upstream, certificates, waf, filters };

struct family {
  std::string_view name;
  type kind;
  source where;
  // fixed and series: the one label that `values` names (empty: none);
  // rows: every label a row carries, ',' between (the owner writes them).
  std::string_view label;
  std::string_view values;  // fixed and series: the label's values, '|' between
  std::string_view help;
  owner rows_by = owner::none;
};

// Upper bounds of the request duration histogram, in microseconds (+Inf is implied).
inline constexpr std::array<std::uint64_t, 14> latency_bounds_us = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

using enum type;
using enum source;

// In the order a scrape shows them.
inline constexpr family families[] = {
    // Per stats series.
    {"gateway_requests_total", counter, series, "code_class", "none|1xx|2xx|3xx|4xx|5xx",
     "Requests by listener, route, backend and response status class (none: the client got no "
     "response)."},
    {"gateway_grpc_requests_total", counter, series, "grpc_code",
     "OK|CANCELLED|UNKNOWN|INVALID_ARGUMENT|DEADLINE_EXCEEDED|NOT_FOUND|ALREADY_EXISTS|"
     "PERMISSION_DENIED|RESOURCE_EXHAUSTED|FAILED_PRECONDITION|ABORTED|OUT_OF_RANGE|"
     "UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS|UNAUTHENTICATED",
     "gRPC requests by listener, route, backend and the grpc-status they got (from the upstream "
     "or the gateway)."},
    {"gateway_request_duration_seconds", histogram, series, "", "",
     "Time from the first byte of a request to the last byte of its response."},
    {"gateway_tcp_connections_total", counter, series, "", "",
     "Connections carried whole (TCPRoute, TLSRoute) by listener, route and backend, counted "
     "when they end; their bytes are in the byte counters."},
    {"gateway_request_bytes_total", counter, series, "", "", "Bytes received from clients."},
    {"gateway_response_bytes_total", counter, series, "", "", "Bytes sent to clients."},

    // Per worker (summed), or set by the server at a scrape.
    {"gateway_downstream_connections", gauge, fixed, "", "", "Open client connections."},
    {"gateway_downstream_streams", gauge, fixed, "", "",
     "Requests in progress: HTTP/1.1 requests and HTTP/2 streams."},
    {"gateway_buffer_bytes", gauge, fixed, "side", "client|upstream|pooled",
     "Buffer capacity held by open client connections (heads, bodies, HTTP/2 stream queues), "
     "by their requests' upstream links (what bufferLimit and the head limits bound), and kept "
     "by the workers for the next requests (pooled)."},
    {"gateway_limit_hits_total", counter, fixed, "limit",
     "listener_connections|worker_connections|worker_streams|connection_streams|request_line|"
     "request_headers|request_body|header_timeout|request_timeout|send_timeout|response_headers|"
     "response_body|overload_connections|overload_requests",
     "Connections, requests and streams refused or cut off at a limit, by limit."},
    {"gateway_upstream_connections", gauge, fixed, "state", "active|idle",
     "Upstream connections: carrying a request, or idle in a keep-alive pool."},
    {"gateway_downstream_requests_total", counter, fixed, "protocol", "HTTP/1.0|HTTP/1.1|HTTP/2",
     "Requests from clients, by protocol."},
    {"gateway_upstream_requests_total", counter, fixed, "protocol", "HTTP/1.1|HTTP/2",
     "Requests sent to upstreams (each try), by protocol."},
    {"gateway_mirror_requests_total", counter, fixed, "result", "sent|failed|skipped",
     "Mirrored request copies: answered, failed, or skipped (body not replayable, too many in "
     "flight)."},
    {"gateway_tls_handshakes_total", counter, fixed, "result", "ok|failed|timeout|refused",
     "TLS handshakes on HTTPS listeners: completed (and of those, resumed), failed, timed out, "
     "or refused because too many were in progress."},
    {"gateway_tls_resumed_total", counter, fixed, "", "", "TLS handshakes that resumed a session."},
    {"gateway_config_reloads_total", counter, fixed, "result", "ok|failed",
     "Config reloads by result."},
    {"gateway_tracing_spans_total", counter, fixed, "result", "recorded|dropped|exported|failed",
     "Spans of traced requests: recorded by the workers, dropped because a worker's buffer was "
     "full, exported to the collector, or failed (in batches it did not take)."},
    {"gateway_config_last_reload_successful", gauge, fixed, "", "",
     "Whether the last config reload succeeded (1 when there was none)."},
    {"gateway_config_last_reload_timestamp_seconds", gauge, fixed, "", "",
     "When the last config reload ran, Unix seconds (0: none yet)."},
    {"gateway_config_version", gauge, fixed, "", "", "Version of the config being served."},
    {"gateway_start_time_seconds", gauge, fixed, "", "", "When the gateway started, Unix seconds."},
    {"gateway_tls_certificate_expiry_timestamp_seconds", gauge, rows, "listener,name,key", "",
     "When each certificate an HTTPS listener serves stops being valid, Unix seconds.",
     owner::certificates},
    {"gateway_overload_state", gauge, fixed, "", "",
     "The overload manager's level: 0 normal, 1 saturated (no new connections, no keep-alive), "
     "2 shedding (also 503 for new requests)."},
    {"gateway_overload_transitions_total", counter, fixed, "to", "normal|saturated|shedding",
     "Changes of the overload level, by the level entered."},
    {"gateway_overload_resource", gauge, fixed, "resource", "heap_bytes|descriptors",
     "What the overload manager measured last (0 when it watches nothing): heap bytes in use, "
     "open descriptors."},
    {"gateway_workers", gauge, fixed, "state", "running|reporting",
     "Worker threads, and how many answered this scrape in time."},

    // Upstream clusters: atomics their state shares between workers.
    {"gateway_upstream_endpoint_healthy", gauge, rows, "cluster,endpoint", "",
     "1 while the endpoint passes its active health check (or has none).", owner::upstream},
    {"gateway_upstream_endpoint_ejected", gauge, rows, "cluster,endpoint", "",
     "1 while outlier detection ejects the endpoint.", owner::upstream},
    {"gateway_upstream_endpoint_ejections_total", counter, rows, "cluster,endpoint", "",
     "Times outlier detection ejected the endpoint.", owner::upstream},
    {"gateway_upstream_endpoint_health_check_failures_total", counter, rows, "cluster,endpoint", "",
     "Failed active health check probes.", owner::upstream},
    {"gateway_upstream_endpoint_connections", gauge, rows, "cluster,endpoint", "",
     "Open connections to the endpoint, all workers.", owner::upstream},
    {"gateway_upstream_cluster_active", gauge, rows, "cluster,kind", "",
     "Per cluster, all workers: open connections, requests in flight, requests waiting for a "
     "connection, retries in flight.",
     owner::upstream},
    {"gateway_upstream_overflow_total", counter, rows, "cluster,limit", "",
     "Requests and retries a circuit breaker refused, by limit.", owner::upstream},
    {"gateway_upstream_idle_shed_total", counter, rows, "cluster", "",
     "Idle connections closed, on any worker, to make room for a request waiting at the "
     "cluster's connection limit.",
     owner::upstream},
    {"gateway_upstream_retries_total", counter, rows, "cluster", "", "Retries sent to the cluster.",
     owner::upstream},
    {"gateway_upstream_panic", gauge, rows, "cluster", "",
     "1 while fewer endpoints than the panic threshold are usable, so all are used.",
     owner::upstream},

    // What filter factories declared (filter_factory_context::counter).
    {"gateway_filter_events_total", counter, rows, "filter,type,event", "",
     "Events the filters counted, by the resource that configured the filter, its type and "
     "the event.",
     owner::filters},

    // The WAF: its evaluation pool is the process's, and so are its counters.
    {"gateway_waf_requests_total", counter, rows, "decision", "",
     "Requests the WAF evaluated, by decision.", owner::waf},
    {"gateway_waf_rule_matches_total", counter, rows, "rule_id,action", "",
     "Rule matches, by rule id and action.", owner::waf},
    {"gateway_waf_queued", gauge, rows, "", "",
     "WAF phases waiting to run, on the evaluation threads or a worker's.", owner::waf},
    {"gateway_waf_phases_total", counter, rows, "thread", "",
     "WAF phases run, by thread: the evaluation pool (a body to inspect) or the worker's own.",
     owner::waf},
    {"gateway_waf_phases_back_to_back_total", counter, rows, "", "",
     "WAF phases a worker ran right after another, while it served only WAF requests.", owner::waf},
};

// How many label values `values` lists ('|' between; none is one series).
constexpr std::size_t value_count(std::string_view values) {
  std::size_t n = 1;
  for (char c : values)
    n += c == '|';
  return n;
}

// Slots a family takes in its storage.
constexpr std::size_t width(const family& f) {
  if (f.where == rows) return 0;
  if (f.kind == histogram) return latency_bounds_us.size() + 2;  // buckets, +Inf, sum
  return value_count(f.values);
}

consteval const family& find(std::string_view name) {
  for (const family& f : families)
    if (f.name == name) return f;
  throw "metrics: no such family in the table";  // a compile error where it is named
}

// Where `name`'s first slot is in its storage.
consteval std::size_t first_slot(std::string_view name) {
  const family& target = find(name);
  std::size_t at = 0;
  for (const family& f : families) {
    if (f.name == name) return at;
    if (f.where == target.where) at += width(f);
  }
  return at;
}

// The slot of `name` for label value `value` (none for an unlabelled family).
consteval std::size_t slot(std::string_view name, std::string_view value = {}) {
  const family& f = find(name);
  if (value.empty()) {
    if (!f.values.empty()) throw "metrics: this family needs a label value";
    return first_slot(name);
  }
  std::size_t i = 0;
  std::string_view rest = f.values;
  for (;;) {
    const std::size_t bar = rest.find('|');
    if (rest.substr(0, bar) == value) return first_slot(name) + i;
    if (bar == std::string_view::npos) throw "metrics: no such label value in the table";
    rest.remove_prefix(bar + 1);
    ++i;
  }
}

constexpr std::size_t slots_of(source s) {
  std::size_t n = 0;
  for (const family& f : families)
    if (f.where == s) n += width(f);
  return n;
}

// The `i`th of `f`'s label values.
constexpr std::string_view label_value(const family& f, std::size_t i) noexcept {
  std::string_view rest = f.values;
  for (; i > 0; --i) {
    const std::size_t bar = rest.find('|');
    if (bar == std::string_view::npos) return {};
    rest.remove_prefix(bar + 1);
  }
  return rest.substr(0, rest.find('|'));
}

// One worker's fixed counters (or their sum at a scrape): plain numbers,
// touched by one thread only.
struct block {
  std::array<std::uint64_t, slots_of(fixed)> v{};
  void add(std::size_t slot, std::uint64_t n = 1) noexcept { v[slot] += n; }
  void set(std::size_t slot, std::uint64_t n) noexcept { v[slot] = n; }
  void add(const block& o) noexcept {
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] += o.v[i];
  }
};

// Writes the HELP and TYPE lines of `f`.
void write_header(std::string& out, const family& f);
// Writes one sample of `f`: `labels` is the text inside the braces, already
// escaped (empty: none); `suffix` goes after the name ("_bucket", "_sum").
void write_row(std::string& out, const family& f, std::string_view labels, std::uint64_t value,
               std::string_view suffix = {});
// Appends `v` to a label value, escaped as the text format wants.
void append_label_value(std::string& out, std::string_view v);

}  // namespace gateway::metrics
