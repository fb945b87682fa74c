// The effective config as JSON: what gatewayd --dump-config prints and the
// admin endpoint's /config serves. Field names follow the C++ model.
#include <gateway/config.hpp>

#include "core/json_writer.hpp"

namespace gateway {
namespace {

const char* name_of(path_match_type t) {
  switch (t) {
    case path_match_type::exact:
      return "Exact";
    case path_match_type::prefix:
      return "PathPrefix";
    case path_match_type::regex:
      return "RegularExpression";
  }
  return "?";
}

const char* name_of(value_match_type t) {
  return t == value_match_type::exact ? "Exact" : "RegularExpression";
}

template <class Match>
void write_values(json_writer& w, std::string_view key, const std::vector<Match>& values) {
  w.key(key).begin_array();
  for (const auto& v : values)
    w.begin_object()
        .field("type", name_of(v.type))
        .field("name", v.name)
        .field("value", v.value)
        .end_object();
  w.end_array();
}

void write_strings(json_writer& w, std::string_view key, const std::vector<std::string>& values) {
  w.key(key).begin_array();
  for (const auto& v : values)
    w.value(v);
  w.end_array();
}

std::int64_t ms(std::chrono::milliseconds d) {
  return static_cast<std::int64_t>(d.count());
}

void write_upstream_settings(json_writer& w, const cluster_config& c) {
  static constexpr const char* policies[] = {"round_robin", "least_request", "random", "ring_hash",
                                             "maglev"};
  static constexpr const char* sources[] = {"source_ip", "header", "cookie"};
  static constexpr const char* checks[] = {"none", "http", "tcp", "grpc"};
  const auto& lb = c.load_balancer;
  w.key("load_balancer")
      .begin_object()
      .field("policy", policies[static_cast<int>(lb.policy)])
      .key("hash")
      .begin_object()
      .field("source", sources[static_cast<int>(lb.hash.source)])
      .field("name", lb.hash.name)
      .field("cookie_ttl_s", static_cast<std::int64_t>(lb.hash.cookie_ttl.count()))
      .field("cookie_path", lb.hash.cookie_path)
      .end_object()
      .field("table_size", lb.table_size)
      .field("ring_points", lb.ring_points)
      .field("slow_start_ms", ms(lb.slow_start))
      .field("slow_start_min_percent", lb.slow_start_min_percent)
      .field("panic_threshold_percent", lb.panic_threshold_percent)
      .end_object();
  const auto& hc = c.health_check;
  w.key("health_check")
      .begin_object()
      .field("type", checks[static_cast<int>(hc.type)])
      .field("interval_ms", ms(hc.interval))
      .field("jitter_ms", ms(hc.jitter))
      .field("timeout_ms", ms(hc.timeout))
      .field("unhealthy_threshold", hc.unhealthy_threshold)
      .field("healthy_threshold", hc.healthy_threshold)
      .field("path", hc.path)
      .field("method", hc.method)
      .field("host", hc.host)
      .key("expected_statuses")
      .begin_array();
  for (const auto& [lo, hi] : hc.expected_statuses)
    w.begin_array().value(lo).value(hi).end_array();
  w.end_array()
      .field("expected_body", hc.expected_body)
      .field("grpc_service", hc.grpc_service)
      .field("send", hc.send)
      .field("receive", hc.receive)
      .end_object();
  const auto& od = c.outlier_detection;
  w.key("outlier_detection")
      .begin_object()
      .field("consecutive_5xx", od.consecutive_5xx)
      .field("consecutive_gateway_errors", od.consecutive_gateway_errors)
      .field("split_local_origin", od.split_local_origin)
      .field("consecutive_local_origin_failures", od.consecutive_local_origin_failures)
      .field("interval_ms", ms(od.interval))
      .field("base_ejection_time_ms", ms(od.base_ejection_time))
      .field("max_ejection_time_ms", ms(od.max_ejection_time))
      .field("max_ejection_percent", od.max_ejection_percent)
      .end_object();
  const auto& cb = c.circuit_breakers;
  w.key("circuit_breakers")
      .begin_object()
      .field("max_connections", cb.max_connections)
      .field("max_pending_requests", cb.max_pending_requests)
      .field("max_requests", cb.max_requests)
      .field("max_retries", cb.max_retries)
      .field("retry_budget_percent", cb.retry_budget_percent)
      .field("retry_budget_min_concurrency", cb.retry_budget_min_concurrency)
      .field("max_connections_per_endpoint", cb.max_connections_per_endpoint)
      .end_object();
  static constexpr const char* families[] = {"v4_and_v6", "v4", "v6", "v4_preferred",
                                             "v6_preferred"};
  w.key("dns")
      .begin_object()
      .field("refresh_ms", ms(c.dns.refresh))
      .field("respect_ttl", c.dns.respect_ttl)
      .field("family", families[static_cast<int>(c.dns.family)]);
  write_strings(w, "resolvers", c.dns.resolvers);
  w.field("hosts_file", c.dns.hosts_file).field("timeout_ms", ms(c.dns.timeout)).end_object();
  // Key material stays out: the config is served on the admin endpoint.
  const auto& t = c.tls;
  w.key("tls")
      .begin_object()
      .field("enabled", t.enabled)
      .field("sni", t.sni)
      .field("verify_hostname", t.verify_hostname);
  write_strings(w, "subject_alt_names", t.subject_alt_names);
  w.field("ca_certificates", !t.ca_pem.empty())
      .field("system_ca", t.system_ca)
      .field("insecure_skip_verify", t.insecure_skip_verify)
      .field("client_certificate", !t.client_cert_pem.empty())
      .field("min_version", t.min_version);
  write_strings(w, "alpn", t.alpn);
  w.end_object();
}

// An HTTPS listener's settings; certificates by where they come from (no key material).
void write_listener_tls(json_writer& w, const listener_config& l) {
  static constexpr const char* modes[] = {"Sanitize", "ForwardOnly", "AppendForward", "SanitizeSet",
                                          "AlwaysForwardOnly"};
  const client_cert_forwarding& f = l.forward_client_cert;
  w.key("forward_client_cert")
      .begin_object()
      .field("mode", modes[static_cast<int>(f.how)])
      .field("subject", f.subject)
      .field("cert", f.cert)
      .field("chain", f.chain)
      .field("dns", f.dns)
      .field("uri", f.uri)
      .end_object();
  if (!l.tls) return;
  const listener_tls_config& t = *l.tls;
  w.key("tls").begin_object().key("certificates").begin_array();
  for (const auto& c : t.certificates)
    w.begin_object()
        .field("source", c.source)
        .field("certificate_file", c.cert_file)
        .field("key_file", c.key_file)
        .field("ocsp", !c.ocsp_der.empty() || !c.ocsp_file.empty())
        .end_object();
  w.end_array().field("min_version", t.min_version).field("max_version", t.max_version);
  write_strings(w, "ciphers", t.ciphers);
  write_strings(w, "groups", t.groups);
  write_strings(w, "signature_algorithms", t.signature_algorithms);
  write_strings(w, "alpn", t.alpn);
  w.field("session_tickets", t.session_tickets)
      .field("session_cache", t.session_cache)
      .field("session_timeout_s", static_cast<std::uint64_t>(t.session_timeout.count()))
      .field("handshake_timeout_ms", ms(t.handshake_timeout))
      .field("max_pending_handshakes", static_cast<std::uint64_t>(t.max_pending_handshakes));
  if (const auto& v = t.client_validation) {
    w.key("client_validation")
        .begin_object()
        .field("optional", v->optional)
        .field("ca_certificates", !v->ca_pem.empty());
    write_strings(w, "certificate_hashes", v->certificate_hashes);
    write_strings(w, "spki_hashes", v->spki_hashes);
    w.end_object();
  }
  w.end_object();
}

void write_fields(json_writer& w, std::string_view key, const std::vector<header_value>& fields) {
  w.key(key).begin_array();
  for (const auto& f : fields)
    w.begin_object().field("name", f.name).field("value", f.value).end_object();
  w.end_array();
}

void write_modifier(json_writer& w, std::string_view key, const header_modifier& m) {
  w.key(key).begin_object();
  write_fields(w, "set", m.set);
  write_fields(w, "add", m.add);
  write_strings(w, "remove", m.remove);
  w.end_object();
}

void write_path(json_writer& w, const path_rewrite& p) {
  w.key("path");
  if (p.type == path_rewrite_type::none) {
    w.null();
    return;
  }
  w.begin_object()
      .field("type",
             p.type == path_rewrite_type::full_path ? "ReplaceFullPath" : "ReplacePrefixMatch")
      .field("value", p.value)
      .end_object();
}

// The filter chain by the names its filters were made from.
void write_filter_names(json_writer& w, const std::vector<filter_ref>& filters) {
  w.key("filters").begin_array();
  for (const filter_ref& f : filters)
    w.value(f.name);
  w.end_array();
}

void write_rule(json_writer& w, const route_rule& rule) {
  w.begin_object().field("name", rule.name).key("matches").begin_array();
  for (const auto& m : rule.matches) {
    w.begin_object();
    if (m.grpc) {
      w.key("grpc")
          .begin_object()
          .field("type", name_of(m.grpc->type))
          .field("service", m.grpc->service)
          .field("method", m.grpc->method)
          .end_object();
    } else {
      w.key("path")
          .begin_object()
          .field("type", name_of(m.path.type))
          .field("value", m.path.value)
          .end_object();
    }
    if (m.method)
      w.field("method", *m.method);
    else
      w.key("method").null();
    write_values(w, "headers", m.headers);
    write_values(w, "query_params", m.query_params);
    w.end_object();
  }
  w.end_array().key("backends").begin_array();
  for (const auto& b : rule.backends) {
    w.begin_object().field("cluster", b.cluster).field("weight", b.weight);
    if (!b.invalid.empty()) w.field("invalid", b.invalid);
    w.end_object();
  }
  w.end_array()
      .field("request_timeout_ms", ms(rule.request_timeout))
      .field("backend_request_timeout_ms", ms(rule.backend_request_timeout))
      .field("max_stream_duration_ms", ms(rule.max_stream_duration));
  write_strings(w, "upgrades", rule.upgrades);
  write_modifier(w, "request_headers", rule.request_headers);
  write_modifier(w, "response_headers", rule.response_headers);
  w.key("redirect");
  if (rule.redirect) {
    const request_redirect& r = *rule.redirect;
    w.begin_object()
        .field("scheme", r.scheme)
        .field("hostname", r.hostname)
        .field("port", unsigned{r.port});
    write_path(w, r.path);
    w.field("status_code", r.status_code).end_object();
  } else {
    w.null();
  }
  w.key("rewrite");
  if (rule.rewrite) {
    w.begin_object().field("hostname", rule.rewrite->hostname);
    write_path(w, rule.rewrite->path);
    w.end_object();
  } else {
    w.null();
  }
  w.key("cors");
  if (rule.cors) {
    const cors_policy& c = *rule.cors;
    w.begin_object();
    write_strings(w, "allow_origins", c.allow_origins);
    write_strings(w, "allow_methods", c.allow_methods);
    write_strings(w, "allow_headers", c.allow_headers);
    write_strings(w, "expose_headers", c.expose_headers);
    w.field("allow_credentials", c.allow_credentials)
        .field("max_age_s", static_cast<std::int64_t>(c.max_age.count()))
        .end_object();
  } else {
    w.null();
  }
  w.key("retry");
  if (rule.retry) {
    w.begin_object().key("codes").begin_array();
    for (int c : rule.retry->codes)
      w.value(c);
    w.end_array()
        .field("attempts", rule.retry->attempts)
        .field("backoff_ms", ms(rule.retry->backoff))
        .field("max_backoff_ms", ms(rule.retry->max_backoff))
        .field("per_try_timeout_ms", ms(rule.retry->per_try_timeout))
        .field("buffer_limit", rule.retry->buffer_limit);
    const auto& on = rule.retry->retry_on;
    w.key("retry_on").begin_array();
    for (const auto& [set, name] : {std::pair{on.connect_failure, "connect-failure"},
                                    {on.reset, "reset"},
                                    {on.server_error, "5xx"},
                                    {on.gateway_error, "gateway-error"},
                                    {on.retriable_4xx, "retriable-4xx"},
                                    {on.status_codes, "retriable-status-codes"}})
      if (set) w.value(name);
    w.end_array();
    write_strings(w, "methods", rule.retry->methods);
    w.end_object();
  } else {
    w.null();
  }
  w.key("mirrors").begin_array();
  for (const auto& m : rule.mirrors)
    w.begin_object()
        .field("cluster", m.cluster)
        .field("numerator", m.numerator)
        .field("denominator", m.denominator)
        .end_object();
  w.end_array();
  write_filter_names(w, rule.filters);
  if (!rule.backend_variants.empty()) {
    w.key("backend_variants").begin_array();
    for (const route_rule& v : rule.backend_variants)
      write_rule(w, v);
    w.end_array();
  }
  w.end_object();
}

}  // namespace

std::string to_json(const gateway_config& config) {
  std::string out;
  json_writer w(out);
  w.begin_object().key("listeners").begin_array();
  for (const auto& l : config.listeners) {
    const listener_limits& lim = l.limits;
    w.begin_object()
        .field("name", l.name)
        .field("bind_address", l.bind_address)
        .field("bind_port", unsigned{l.bind_port})
        .field("port", unsigned{l.port})
        .field("hostname", l.hostname)
        .field("protocol", l.protocol == listener_protocol::tcp               ? "TCP"
                           : l.protocol == listener_protocol::tls_passthrough ? "TLSPassthrough"
                                                                              : "HTTP");
    w.key("limits")
        .begin_object()
        .field("max_request_line", std::uint64_t{lim.max_request_line})
        .field("max_request_head", std::uint64_t{lim.max_request_head})
        .field("max_header_count", std::uint64_t{lim.max_header_count})
        .field("max_request_body", lim.max_request_body)
        .field("header_timeout_ms", ms(lim.header_timeout))
        .field("idle_timeout_ms", ms(lim.idle_timeout))
        .field("request_timeout_ms", ms(lim.request_timeout))
        .field("stream_idle_timeout_ms", ms(lim.stream_idle_timeout))
        .field("request_received_timeout_ms", ms(lim.request_received_timeout))
        .field("buffer_limit", std::uint64_t{lim.buffer_limit})
        .field("max_connections", std::uint64_t{lim.max_connections})
        .field("connection_close_delay_ms", ms(lim.connection_close_delay))
        .end_object();
    w.field("xff_trusted_hops", std::uint64_t{l.xff_trusted_hops});
    static constexpr const char* underscores[] = {"Allow", "RejectRequest", "DropHeader"};
    static constexpr const char* slashes[] = {"KeepUnchanged", "RejectRequest",
                                              "UnescapeAndRedirect", "UnescapeAndForward"};
    const request_normalization& n = l.normalization;
    w.key("normalization")
        .begin_object()
        .field("with_underscores", underscores[static_cast<int>(n.with_underscores)])
        .field("escaped_slashes", slashes[static_cast<int>(n.escaped_slashes_action)])
        .field("merge_slashes", n.merge_slashes)
        .end_object();
    w.key("http2")
        .begin_object()
        .field("max_concurrent_streams", l.http2.max_concurrent_streams)
        .field("initial_stream_window", l.http2.initial_stream_window)
        .field("initial_connection_window", l.http2.initial_connection_window)
        .end_object();
    if (const auto& t = l.tracing)
      w.key("tracing")
          .begin_object()
          .field("sampling_numerator", t->sampling_numerator)
          .field("sampling_denominator", t->sampling_denominator)
          .field("collector", t->collector)
          .field("service_name", t->service_name)
          .field("flush_interval_ms", static_cast<std::int64_t>(t->flush_interval.count()))
          .field("max_queued_bytes", static_cast<std::uint64_t>(t->max_queued_bytes))
          .end_object();
    write_listener_tls(w, l);
    write_filter_names(w, l.filters);
    w.key("routes").begin_array();
    for (const auto& r : l.routes) {
      w.begin_object()
          .field("kind", route_kind_name(r.kind))
          .field("namespace", r.namespace_name)
          .field("name", r.name)
          .field("creation_order", r.creation_order);
      write_strings(w, "hostnames", r.hostnames);
      w.key("rules").begin_array();
      for (const auto& rule : r.rules)
        write_rule(w, rule);
      w.end_array().end_object();
    }
    w.end_array().end_object();
  }
  w.end_array().key("clusters").begin_array();
  for (const auto& c : config.clusters) {
    w.begin_object().field("name", c.name).key("endpoints").begin_array();
    for (const auto& e : c.endpoints)
      w.begin_object()
          .field("address", e.address)
          .field("port", unsigned{e.port})
          .field("weight", e.weight)
          .end_object();
    w.end_array()
        .field("connect_timeout_ms", ms(c.connect_timeout))
        .field("idle_timeout_ms", ms(c.idle_timeout))
        .field("max_idle_per_endpoint", std::uint64_t{c.max_idle_per_endpoint})
        .field("max_requests_per_connection", c.max_requests_per_connection)
        .field("max_response_head", std::uint64_t{c.max_response_head})
        .field("max_response_header_count", std::uint64_t{c.max_response_header_count})
        .field("buffer_limit", std::uint64_t{c.buffer_limit})
        .field("max_response_body", c.max_response_body)
        .field("protocol", c.protocol == upstream_protocol::http2 ? "http2" : "http1");
    write_upstream_settings(w, c);
    w.end_object();
  }
  w.end_array().key("statuses").begin_array();
  for (const auto& st : config.statuses) {
    w.begin_object()
        .field("kind", st.kind)
        .field("route", st.route)
        .field("parent", st.parent)
        .key("conditions")
        .begin_array();
    for (const auto& c : st.conditions)
      w.begin_object()
          .field("type", c.type)
          .field("status", c.status ? "True" : "False")
          .field("reason", c.reason)
          .field("message", c.message)
          .end_object();
    w.end_array().end_object();
  }
  w.end_array();
  write_strings(w, "warnings", config.warnings);
  w.end_object();
  out.push_back('\n');
  return out;
}

}  // namespace gateway
