#include "server/prometheus_text.hpp"

#include <charconv>
#include <tuple>

#include "http1/head_text.hpp"

namespace gateway {
namespace {

// Label values escape backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

void append_series_labels(std::string& out, const series_labels& l) {
  out.append("listener=\"");
  append_label_value(out, l.listener);
  out.append("\",route=\"");
  append_label_value(out, l.route);
  out.append("\",backend=\"");
  append_label_value(out, l.backend);
  out.push_back('"');
}

void append_seconds(std::string& out, std::uint64_t micros) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, static_cast<double>(micros) / 1e6);
  out.append(buf, r.ptr);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void simple(std::string& out, const char* name, std::string_view labels, std::uint64_t value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.push_back(' ');
  append_uint(out, value);
  out.push_back('\n');
}

}  // namespace

std::string prometheus_text(const std::vector<series_labels>& labels, const worker_report& total,
                            const server_gauges& g) {
  std::string out;
  out.reserve(4096 + labels.size() * 2048);
  const std::size_t n = std::min(labels.size(), total.series.size());
  static constexpr const char* classes[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

  header(out, "gateway_requests_total", "counter",
         "Requests by listener, route, backend and response status class "
         "(none: the client got no response).");
  for (std::size_t i = 0; i < n; ++i) {
    const series_stats& s = total.series[i];
    for (std::size_t c = 0; c < s.requests.size(); ++c) {
      if (s.requests[c] == 0) continue;
      out.append("gateway_requests_total{");
      append_series_labels(out, labels[i]);
      out.append(",code_class=\"").append(classes[c]).append("\"} ");
      append_uint(out, s.requests[c]);
      out.push_back('\n');
    }
  }

  static constexpr const char* grpc_codes[] = {"OK",
                                               "CANCELLED",
                                               "UNKNOWN",
                                               "INVALID_ARGUMENT",
                                               "DEADLINE_EXCEEDED",
                                               "NOT_FOUND",
                                               "ALREADY_EXISTS",
                                               "PERMISSION_DENIED",
                                               "RESOURCE_EXHAUSTED",
                                               "FAILED_PRECONDITION",
                                               "ABORTED",
                                               "OUT_OF_RANGE",
                                               "UNIMPLEMENTED",
                                               "INTERNAL",
                                               "UNAVAILABLE",
                                               "DATA_LOSS",
                                               "UNAUTHENTICATED"};
  header(out, "gateway_grpc_requests_total", "counter",
         "gRPC requests by listener, route, backend and the grpc-status they got (from the "
         "upstream or the gateway).");
  for (std::size_t i = 0; i < n; ++i) {
    const series_stats& s = total.series[i];
    for (std::size_t c = 0; c < s.grpc.size(); ++c) {
      if (s.grpc[c] == 0) continue;
      out.append("gateway_grpc_requests_total{");
      append_series_labels(out, labels[i]);
      out.append(",grpc_code=\"").append(grpc_codes[c]).append("\"} ");
      append_uint(out, s.grpc[c]);
      out.push_back('\n');
    }
  }

  header(out, "gateway_request_duration_seconds", "histogram",
         "Time from the first byte of a request to the last byte of its response.");
  for (std::size_t i = 0; i < n; ++i) {
    const series_stats& s = total.series[i];
    std::uint64_t count = 0;
    for (auto v : s.latency)
      count += v;
    if (count == 0) continue;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < s.latency.size(); ++b) {
      cumulative += s.latency[b];
      out.append("gateway_request_duration_seconds_bucket{");
      append_series_labels(out, labels[i]);
      out.append(",le=\"");
      if (b < latency_bounds_us.size())
        append_seconds(out, latency_bounds_us[b]);
      else
        out.append("+Inf");
      out.append("\"} ");
      append_uint(out, cumulative);
      out.push_back('\n');
    }
    out.append("gateway_request_duration_seconds_sum{");
    append_series_labels(out, labels[i]);
    out.append("} ");
    append_seconds(out, s.latency_sum_us);
    out.append("\ngateway_request_duration_seconds_count{");
    append_series_labels(out, labels[i]);
    out.append("} ");
    append_uint(out, count);
    out.push_back('\n');
  }

  header(out, "gateway_tcp_connections_total", "counter",
         "Connections carried whole (TCPRoute, TLSRoute) by listener, route and backend, "
         "counted when they end; their bytes are in the byte counters.");
  for (std::size_t i = 0; i < n; ++i) {
    const series_stats& s = total.series[i];
    if (s.connections == 0) continue;
    out.append("gateway_tcp_connections_total{");
    append_series_labels(out, labels[i]);
    out.append("} ");
    append_uint(out, s.connections);
    out.push_back('\n');
  }

  for (const auto& [metric, help, in] :
       {std::tuple{"gateway_request_bytes_total", "Bytes received from clients.", true},
        std::tuple{"gateway_response_bytes_total", "Bytes sent to clients.", false}}) {
    header(out, metric, "counter", help);
    for (std::size_t i = 0; i < n; ++i) {
      const series_stats& s = total.series[i];
      std::uint64_t v = in ? s.bytes_in : s.bytes_out;
      if (v == 0) continue;
      out.append(metric).append("{");
      append_series_labels(out, labels[i]);
      out.append("} ");
      append_uint(out, v);
      out.push_back('\n');
    }
  }

  header(out, "gateway_downstream_connections", "gauge", "Open client connections.");
  simple(out, "gateway_downstream_connections", "", g.connections);
  header(out, "gateway_downstream_streams", "gauge",
         "Requests in progress: HTTP/1.1 requests and HTTP/2 streams.");
  simple(out, "gateway_downstream_streams", "", total.streams);
  header(out, "gateway_buffer_bytes", "gauge",
         "Buffer capacity held by open client connections (heads, bodies, HTTP/2 stream "
         "queues) and by their requests' upstream links: what bufferLimit and the head limits "
         "bound.");
  simple(out, "gateway_buffer_bytes", "side=\"client\"", total.buffers.client);
  simple(out, "gateway_buffer_bytes", "side=\"upstream\"", total.buffers.upstream);
  header(out, "gateway_limit_hits_total", "counter",
         "Connections, requests and streams refused or cut off at a limit, by limit.");
  for (std::size_t i = 0; i < limit_names.size(); ++i) {
    std::string label = "limit=\"";
    label.append(limit_names[i]).push_back('"');
    simple(out, "gateway_limit_hits_total", label, total.limits.hits[i]);
  }
  header(out, "gateway_upstream_connections", "gauge",
         "Upstream connections: carrying a request, or idle in a keep-alive pool.");
  simple(out, "gateway_upstream_connections", "state=\"active\"", total.upstream_active);
  simple(out, "gateway_upstream_connections", "state=\"idle\"", total.upstream_idle);
  header(out, "gateway_downstream_requests_total", "counter",
         "Requests from clients, by protocol.");
  static constexpr const char* client_protocols[] = {
      "protocol=\"HTTP/1.0\"", "protocol=\"HTTP/1.1\"", "protocol=\"HTTP/2\""};
  for (std::size_t i = 0; i < total.protocols.downstream.size(); ++i)
    simple(out, "gateway_downstream_requests_total", client_protocols[i],
           total.protocols.downstream[i]);
  header(out, "gateway_upstream_requests_total", "counter",
         "Requests sent to upstreams (each try), by protocol.");
  static constexpr const char* upstream_protocols[] = {"protocol=\"HTTP/1.1\"",
                                                       "protocol=\"HTTP/2\""};
  for (std::size_t i = 0; i < total.protocols.upstream.size(); ++i)
    simple(out, "gateway_upstream_requests_total", upstream_protocols[i],
           total.protocols.upstream[i]);
  header(out, "gateway_mirror_requests_total", "counter",
         "Mirrored request copies: answered, failed, or skipped (body not replayable, too many "
         "in flight).");
  simple(out, "gateway_mirror_requests_total", "result=\"sent\"", total.mirrors_sent);
  simple(out, "gateway_mirror_requests_total", "result=\"failed\"", total.mirrors_failed);
  simple(out, "gateway_mirror_requests_total", "result=\"skipped\"", total.mirrors_skipped);
  header(out, "gateway_tls_handshakes_total", "counter",
         "TLS handshakes on HTTPS listeners: completed (and of those, resumed), failed, timed "
         "out, or refused because too many were in progress.");
  const handshake_counters& h = total.handshakes;
  simple(out, "gateway_tls_handshakes_total", "result=\"ok\"", h.ok);
  simple(out, "gateway_tls_handshakes_total", "result=\"failed\"", h.failed);
  simple(out, "gateway_tls_handshakes_total", "result=\"timeout\"", h.timed_out);
  simple(out, "gateway_tls_handshakes_total", "result=\"refused\"", h.refused);
  header(out, "gateway_tls_resumed_total", "counter", "TLS handshakes that resumed a session.");
  simple(out, "gateway_tls_resumed_total", "", h.resumed);
  header(out, "gateway_config_reloads_total", "counter", "Config reloads by result.");
  simple(out, "gateway_config_reloads_total", "result=\"ok\"", g.reloads_ok);
  simple(out, "gateway_config_reloads_total", "result=\"failed\"", g.reloads_failed);
  header(out, "gateway_tracing_spans_total", "counter",
         "Spans of traced requests: recorded by the workers, dropped because a worker's "
         "buffer was full, exported to the collector, or failed (in batches it did not take).");
  simple(out, "gateway_tracing_spans_total", "result=\"recorded\"", total.spans_recorded);
  simple(out, "gateway_tracing_spans_total", "result=\"dropped\"", total.spans_dropped);
  simple(out, "gateway_tracing_spans_total", "result=\"exported\"", g.spans_exported);
  simple(out, "gateway_tracing_spans_total", "result=\"failed\"", g.spans_failed);
  header(out, "gateway_config_last_reload_successful", "gauge",
         "Whether the last config reload succeeded (1 when there was none).");
  simple(out, "gateway_config_last_reload_successful", "", g.last_reload_ok ? 1 : 0);
  header(out, "gateway_config_last_reload_timestamp_seconds", "gauge",
         "When the last config reload ran, Unix seconds (0: none yet).");
  simple(out, "gateway_config_last_reload_timestamp_seconds", "",
         static_cast<std::uint64_t>(g.last_reload_at));
  header(out, "gateway_config_version", "gauge", "Version of the config being served.");
  simple(out, "gateway_config_version", "", g.config_version);
  header(out, "gateway_start_time_seconds", "gauge", "When the gateway started, Unix seconds.");
  simple(out, "gateway_start_time_seconds", "", static_cast<std::uint64_t>(g.started_at));
  header(out, "gateway_tls_certificate_expiry_timestamp_seconds", "gauge",
         "When each certificate an HTTPS listener serves stops being valid, Unix seconds.");
  for (const tls::certificate_expiry& c : g.certificates) {
    std::string labels = "listener=\"";
    append_label_value(labels, c.listener);
    labels.append("\",name=\"");
    append_label_value(labels, c.name);
    labels.append("\",key=\"").append(c.key).push_back('"');
    simple(out, "gateway_tls_certificate_expiry_timestamp_seconds", labels,
           static_cast<std::uint64_t>(std::max<std::int64_t>(c.not_after, 0)));
  }
  header(out, "gateway_overload_state", "gauge",
         "The overload manager's level: 0 normal, 1 saturated (no new connections, no "
         "keep-alive), 2 shedding (also 503 for new requests).");
  simple(out, "gateway_overload_state", "", g.overload);
  header(out, "gateway_overload_transitions_total", "counter",
         "Changes of the overload level, by the level entered.");
  static constexpr const char* levels[] = {"to=\"normal\"", "to=\"saturated\"", "to=\"shedding\""};
  for (std::size_t i = 0; i < g.overload_transitions.size(); ++i)
    simple(out, "gateway_overload_transitions_total", levels[i], g.overload_transitions[i]);
  header(out, "gateway_overload_resource", "gauge",
         "What the overload manager measured last (0 when it watches nothing): heap bytes in "
         "use, open descriptors.");
  simple(out, "gateway_overload_resource", "resource=\"heap_bytes\"", g.heap);
  simple(out, "gateway_overload_resource", "resource=\"descriptors\"", g.descriptors);
  header(out, "gateway_workers", "gauge",
         "Worker threads, and how many answered this scrape in time.");
  simple(out, "gateway_workers", "state=\"running\"", g.workers);
  simple(out, "gateway_workers", "state=\"reporting\"", g.workers_reporting);
  return out;
}

void append_upstream_metrics(std::string& out, const snapshot& snap) {
  // The coarse clock, as the workers read it: an endpoint shown back is back for them.
  const std::int64_t now = to_ticks(coarse_now());
  auto cluster_label = [&](std::string_view cluster) {
    std::string l = "cluster=\"";
    append_label_value(l, cluster);
    l.push_back('"');
    return l;
  };
  struct cluster_view {
    const cluster_runtime* c;
    std::vector<std::shared_ptr<endpoint_state>> endpoints;
    std::string label;
  };
  std::vector<cluster_view> views;
  for (const auto& c : snap.clusters)
    if (c.state) views.push_back({&c, c.state->endpoints(), cluster_label(c.config.name)});

  using getter = std::uint64_t (*)(const endpoint_state&, std::int64_t);
  const std::tuple<const char*, const char*, const char*, getter> per_endpoint[] = {
      {"gateway_upstream_endpoint_healthy", "gauge",
       "1 while the endpoint passes its active health check (or has none).",
       [](const endpoint_state& e, std::int64_t) -> std::uint64_t { return e.healthy.load(); }},
      {"gateway_upstream_endpoint_ejected", "gauge",
       "1 while outlier detection ejects the endpoint.",
       [](const endpoint_state& e, std::int64_t t) -> std::uint64_t { return e.ejected(t); }},
      {"gateway_upstream_endpoint_ejections_total", "counter",
       "Times outlier detection ejected the endpoint.",
       [](const endpoint_state& e, std::int64_t) -> std::uint64_t { return e.ejections.load(); }},
      {"gateway_upstream_endpoint_health_check_failures_total", "counter",
       "Failed active health check probes.",
       [](const endpoint_state& e, std::int64_t) -> std::uint64_t {
         return e.health_failures.load();
       }},
      {"gateway_upstream_endpoint_connections", "gauge",
       "Open connections to the endpoint, all workers.",
       [](const endpoint_state& e, std::int64_t) -> std::uint64_t { return e.connections.load(); }},
  };
  for (const auto& [name, type, help, get] : per_endpoint) {
    header(out, name, type, help);
    for (const auto& v : views)
      for (const auto& e : v.endpoints) {
        std::string labels = v.label;
        labels.append(",endpoint=\"");
        append_label_value(labels, e->name);
        labels.push_back('"');
        simple(out, name, labels, get(*e, now));
      }
  }
  header(out, "gateway_upstream_cluster_active", "gauge",
         "Per cluster, all workers: open connections, requests in flight, requests waiting for a "
         "connection, retries in flight.");
  for (const auto& v : views) {
    const cluster_state& s = *v.c->state;
    simple(out, "gateway_upstream_cluster_active", v.label + ",kind=\"connections\"",
           s.connections.load());
    simple(out, "gateway_upstream_cluster_active", v.label + ",kind=\"requests\"",
           s.requests.load());
    simple(out, "gateway_upstream_cluster_active", v.label + ",kind=\"pending\"", s.pending.load());
    simple(out, "gateway_upstream_cluster_active", v.label + ",kind=\"retries\"", s.retries.load());
  }
  header(out, "gateway_upstream_overflow_total", "counter",
         "Requests and retries a circuit breaker refused, by limit.");
  for (const auto& v : views) {
    const cluster_state& s = *v.c->state;
    for (const auto& [limit, value] : {std::pair{"connections", s.overflow_connections.load()},
                                       {"pending", s.overflow_pending.load()},
                                       {"requests", s.overflow_requests.load()},
                                       {"retries", s.overflow_retries.load()},
                                       {"retry_budget", s.retries_budget_refused.load()}})
      simple(out, "gateway_upstream_overflow_total", v.label + ",limit=\"" + limit + "\"", value);
  }
  header(out, "gateway_upstream_retries_total", "counter", "Retries sent to the cluster.");
  for (const auto& v : views)
    simple(out, "gateway_upstream_retries_total", v.label, v.c->state->retries_total.load());
  header(out, "gateway_upstream_panic", "gauge",
         "1 while fewer endpoints than the panic threshold are usable, so all are used.");
  for (const auto& v : views) {
    std::size_t usable = 0;
    for (const auto& e : v.endpoints)
      if (e->healthy.load() && !e->ejected(now)) ++usable;
    const auto threshold = v.c->config.load_balancer.panic_threshold_percent;
    simple(out, "gateway_upstream_panic", v.label,
           !v.endpoints.empty() && usable * 100 < v.endpoints.size() * threshold);
  }
}

}  // namespace gateway
