// BackendTrafficPolicy's upstream fields (Envoy Gateway's names): loadBalancer,
// healthCheck (active and passive), circuitBreaker, retry and timeout, read
// into the cluster and rule settings they stand for. Fields marked "extension"
// below are this project's, where Envoy has the setting and Envoy Gateway
// does not expose it.
#include <fmt/format.h>
#include <algorithm>

#include "config/policy_reader.hpp"
#include "tls/digest.hpp"

namespace gateway::manifests {
namespace {

using yaml_config::document_reader;
using yaml_config::index_path;
using yaml_config::join_path;

std::uint32_t u32_at(document_reader& doc, const YAML::Node& m, std::string_view key,
                     const std::string& path, std::uint32_t fallback, std::int64_t min = 0,
                     std::int64_t max = UINT32_MAX) {
  return static_cast<std::uint32_t>(doc.int_at(m, key, path, false, min, max).value_or(fallback));
}

// A Text or Binary (base64) payload.
std::string payload_at(document_reader& doc, const YAML::Node& m, std::string_view key,
                       const std::string& path) {
  YAML::Node p = m[std::string(key)];
  const std::string pp = join_path(path, key);
  if (!p.IsDefined() || !doc.is_map(p, pp)) return {};
  doc.check_keys(p, pp, {"type", "text", "binary"});
  const std::string type = doc.string_at(p, "type", pp, true).value_or("Text");
  if (!doc.one_of(p["type"], join_path(pp, "type"), type, {"Text", "Binary"})) return {};
  if (type == "Text") return doc.string_at(p, "text", pp, true).value_or("");
  const std::string b64 = doc.string_at(p, "binary", pp, true).value_or("");
  auto bytes = tls::base64_decode(b64);
  if (!bytes) doc.fail(p["binary"], join_path(pp, "binary"), "not valid base64");
  return bytes.value_or("");
}

void read_load_balancer(document_reader& doc, const YAML::Node& lb, const std::string& p,
                        upstream_settings& out) {
  doc.check_keys(lb, p, {"type", "consistentHash", "slowStart"});
  load_balancer_config& c = out.load_balancer;
  const std::string type = doc.string_at(lb, "type", p, true).value_or("RoundRobin");
  if (!doc.one_of(lb["type"], join_path(p, "type"), type,
                  {"RoundRobin", "LeastRequest", "Random", "ConsistentHash"}))
    return;
  c.policy = type == "LeastRequest"     ? lb_policy::least_request
             : type == "Random"         ? lb_policy::random
             : type == "ConsistentHash" ? lb_policy::maglev
                                        : lb_policy::round_robin;
  YAML::Node ch = lb["consistentHash"];
  const std::string cp = join_path(p, "consistentHash");
  if (type == "ConsistentHash" && !ch.IsDefined())
    doc.fail(lb, cp, "required when type is ConsistentHash");
  else if (type != "ConsistentHash" && ch.IsDefined())
    doc.fail(ch, cp, "only used when type is ConsistentHash");
  if (type == "ConsistentHash" && ch.IsDefined() && doc.is_map(ch, cp)) {
    // algorithm (extension): Maglev (Envoy Gateway's choice) or RingHash.
    doc.check_keys(ch, cp, {"type", "header", "cookie", "tableSize", "algorithm"});
    const std::string algo = doc.string_at(ch, "algorithm", cp, false).value_or("Maglev");
    if (doc.one_of(ch["algorithm"], join_path(cp, "algorithm"), algo, {"Maglev", "RingHash"}))
      c.policy = algo == "RingHash" ? lb_policy::ring_hash : lb_policy::maglev;
    const std::string source = doc.string_at(ch, "type", cp, true).value_or("SourceIP");
    if (doc.one_of(ch["type"], join_path(cp, "type"), source, {"SourceIP", "Header", "Cookie"})) {
      c.hash.source = source == "Header"   ? hash_source::header
                      : source == "Cookie" ? hash_source::cookie
                                           : hash_source::source_ip;
      for (const char* field : {"header", "cookie"}) {
        const bool wanted = (source == "Header" && field == std::string_view("header")) ||
                            (source == "Cookie" && field == std::string_view("cookie"));
        YAML::Node f = ch[field];
        const std::string fp = join_path(cp, field);
        if (wanted && !f.IsDefined()) {
          doc.fail(ch, fp, fmt::format("required when type is {}", source));
        } else if (!wanted && f.IsDefined()) {
          doc.fail(f, fp,
                   fmt::format("only used when type is {}",
                               field == std::string_view("header") ? "Header" : "Cookie"));
        } else if (wanted && doc.is_map(f, fp)) {
          if (source == "Header") {
            doc.check_keys(f, fp, {"name"});
          } else {
            doc.check_keys(f, fp, {"name", "ttl", "attributes"});
            if (auto ttl = doc.duration_at(f, "ttl", fp))
              c.hash.cookie_ttl = std::chrono::duration_cast<std::chrono::seconds>(*ttl);
            if (YAML::Node at = f["attributes"];
                at.IsDefined() && doc.is_map(at, join_path(fp, "attributes"))) {
              for (auto it = at.begin(); it != at.end(); ++it) {
                const std::string k = it->first.Scalar();
                if (k == "path" || k == "Path")
                  c.hash.cookie_path = it->second.Scalar();
                else
                  doc.fail(it->first, join_path(join_path(fp, "attributes"), k),
                           "only the path attribute is supported");
              }
            }
          }
          c.hash.name = doc.string_at(f, "name", fp, true).value_or("");
          if (source == "Header") {
            std::string lower = c.hash.name;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            c.hash.name = lower;
          }
        }
      }
    }
    if (auto size = doc.int_at(ch, "tableSize", cp, false, 2, 5000011)) {
      if (c.policy == lb_policy::maglev)
        c.table_size = static_cast<std::uint32_t>(*size);
      else
        c.ring_points = static_cast<std::uint32_t>(std::min<std::int64_t>(*size, 65536));
    }
  }
  if (YAML::Node ss = lb["slowStart"];
      ss.IsDefined() && doc.is_map(ss, join_path(p, "slowStart"))) {
    const std::string sp = join_path(p, "slowStart");
    doc.check_keys(ss, sp, {"window", "minWeightPercent"});
    if (type == "ConsistentHash")
      doc.fail(ss, sp, "slow start works with RoundRobin, LeastRequest and Random");
    auto window = doc.duration_at(ss, "window", sp);
    if (!window) doc.fail(ss, join_path(sp, "window"), "required field is missing");
    c.slow_start = window.value_or(std::chrono::milliseconds(0));
    c.slow_start_min_percent = u32_at(doc, ss, "minWeightPercent", sp, 10, 1, 100);  // extension
  }
}

void read_active_check(document_reader& doc, const YAML::Node& a, const std::string& p,
                       health_check_config& c) {
  // intervalJitter (extension): Envoy's interval_jitter.
  doc.check_keys(a, p,
                 {"type", "timeout", "interval", "intervalJitter", "unhealthyThreshold",
                  "healthyThreshold", "http", "tcp", "grpc"},
                 {});
  const std::string type = doc.string_at(a, "type", p, true).value_or("HTTP");
  if (!doc.one_of(a["type"], join_path(p, "type"), type, {"HTTP", "TCP", "GRPC"})) return;
  c.type = type == "HTTP"  ? health_check_type::http
           : type == "TCP" ? health_check_type::tcp
                           : health_check_type::grpc;
  c.timeout = doc.duration_at(a, "timeout", p).value_or(std::chrono::milliseconds(1000));
  c.interval = doc.duration_at(a, "interval", p).value_or(std::chrono::milliseconds(3000));
  c.jitter = doc.duration_at(a, "intervalJitter", p).value_or(std::chrono::milliseconds(0));
  c.unhealthy_threshold = u32_at(doc, a, "unhealthyThreshold", p, 3, 1, 1000);
  c.healthy_threshold = u32_at(doc, a, "healthyThreshold", p, 1, 1, 1000);
  for (const auto& [field, owner] :
       {std::pair{"http", "HTTP"}, std::pair{"tcp", "TCP"}, std::pair{"grpc", "GRPC"}}) {
    const bool wanted = type == owner;
    YAML::Node f = a[field];
    const std::string fp = join_path(p, field);
    if (wanted && !f.IsDefined() && type == "HTTP")
      doc.fail(a, fp, "required when type is HTTP");
    else if (!wanted && f.IsDefined())
      doc.fail(f, fp, std::string("only used when type is ") + owner);
    if (!wanted || !f.IsDefined() || !doc.is_map(f, fp)) continue;
    if (type == "GRPC") {
      doc.check_keys(f, fp, {"service"});
      c.grpc_service = doc.string_at(f, "service", fp, false).value_or("");
    } else if (type == "HTTP") {
      // hostname (extension): the Host of the probe.
      doc.check_keys(f, fp, {"path", "method", "expectedStatuses", "expectedResponse", "hostname"});
      c.path = doc.string_at(f, "path", fp, true).value_or("/");
      c.method = doc.string_at(f, "method", fp, false).value_or("GET");
      c.host = doc.string_at(f, "hostname", fp, false).value_or("");
      if (YAML::Node st = f["expectedStatuses"];
          st.IsDefined() && doc.is_seq(st, join_path(fp, "expectedStatuses"))) {
        c.expected_statuses.clear();
        for (std::size_t i = 0; i < st.size(); ++i) {
          int code = 0;
          try {
            code = st[i].as<int>();
          } catch (const YAML::Exception&) {
          }
          if (code < 100 || code > 599)
            doc.fail(st[i], index_path(join_path(fp, "expectedStatuses"), i),
                     "a status must be between 100 and 599");
          else
            c.expected_statuses.emplace_back(code, code);
        }
      }
      c.expected_body = payload_at(doc, f, "expectedResponse", fp);
    } else {
      doc.check_keys(f, fp, {"send", "receive"});
      c.send = payload_at(doc, f, "send", fp);
      c.receive = payload_at(doc, f, "receive", fp);
    }
  }
}

void read_passive_check(document_reader& doc, const YAML::Node& ps, const std::string& p,
                        outlier_detection_config& c) {
  // maxEjectionTime (extension): Envoy's max_ejection_time.
  doc.check_keys(ps, p,
                 {"splitExternalLocalOriginErrors", "interval", "consecutiveLocalOriginFailures",
                  "consecutiveGatewayErrors", "consecutive5XxErrors", "baseEjectionTime",
                  "maxEjectionPercent", "maxEjectionTime"});
  // Envoy Gateway's defaults for a passive check that is present.
  c.split_local_origin = doc.bool_at(ps, "splitExternalLocalOriginErrors", p).value_or(false);
  c.interval = doc.duration_at(ps, "interval", p).value_or(std::chrono::milliseconds(3000));
  c.consecutive_local_origin_failures = u32_at(doc, ps, "consecutiveLocalOriginFailures", p, 5);
  c.consecutive_gateway_errors = u32_at(doc, ps, "consecutiveGatewayErrors", p, 0);
  c.consecutive_5xx = u32_at(doc, ps, "consecutive5XxErrors", p, 5);
  c.base_ejection_time =
      doc.duration_at(ps, "baseEjectionTime", p).value_or(std::chrono::milliseconds(30000));
  c.max_ejection_time =
      doc.duration_at(ps, "maxEjectionTime", p).value_or(std::chrono::milliseconds(300000));
  c.max_ejection_percent = u32_at(doc, ps, "maxEjectionPercent", p, 10, 0, 100);
  if (!c.enabled()) doc.warn(ps, p, "every detector is 0: nothing is ever ejected");
}

void read_circuit_breaker(document_reader& doc, const YAML::Node& cb, const std::string& p,
                          upstream_settings& out) {
  // retryBudget (extension): Envoy's retry_budget of the circuit breaker thresholds.
  doc.check_keys(cb, p,
                 {"maxConnections", "maxPendingRequests", "maxParallelRequests",
                  "maxParallelRetries", "maxRequestsPerConnection", "perEndpoint", "retryBudget"});
  circuit_breaker_config& c = out.circuit_breakers;
  c.max_connections = u32_at(doc, cb, "maxConnections", p, 1024, 1);
  c.max_pending_requests = u32_at(doc, cb, "maxPendingRequests", p, 1024);
  c.max_requests = u32_at(doc, cb, "maxParallelRequests", p, 1024, 1);
  c.max_retries = u32_at(doc, cb, "maxParallelRetries", p, 1024);
  out.max_requests_per_connection = u32_at(doc, cb, "maxRequestsPerConnection", p, 0);
  if (YAML::Node pe = cb["perEndpoint"];
      pe.IsDefined() && doc.is_map(pe, join_path(p, "perEndpoint"))) {
    doc.check_keys(pe, join_path(p, "perEndpoint"), {"maxConnections"});
    c.max_connections_per_endpoint =
        u32_at(doc, pe, "maxConnections", join_path(p, "perEndpoint"), 1024, 1);
  }
  if (YAML::Node rb = cb["retryBudget"];
      rb.IsDefined() && doc.is_map(rb, join_path(p, "retryBudget"))) {
    const std::string rp = join_path(p, "retryBudget");
    doc.check_keys(rb, rp, {"percent", "minRetryConcurrency"});
    c.retry_budget_percent = u32_at(doc, rb, "percent", rp, 20, 1, 100);
    c.retry_budget_min_concurrency = u32_at(doc, rb, "minRetryConcurrency", rp, 3);
  }
}

retry_policy read_retry(document_reader& doc, const YAML::Node& r, const std::string& p) {
  // methods and requestBufferLimit (extensions): which methods are retried
  // once they reached the upstream, and how much body is kept for a replay.
  doc.check_keys(r, p, {"numRetries", "retryOn", "perRetry", "methods", "requestBufferLimit"});
  retry_policy out;
  out.attempts = u32_at(doc, r, "numRetries", p, 2, 0, 10);
  // Envoy Gateway's default triggers; the gRPC ones have nothing to act on here.
  out.retry_on = {};
  out.retry_on.reset = false;
  out.codes = {503};
  if (YAML::Node on = r["retryOn"]; on.IsDefined() && doc.is_map(on, join_path(p, "retryOn"))) {
    const std::string op = join_path(p, "retryOn");
    doc.check_keys(on, op, {"triggers", "httpStatusCodes"});
    if (YAML::Node ts = on["triggers"];
        ts.IsDefined() && doc.is_seq(ts, join_path(op, "triggers"))) {
      out.retry_on = {false, false, false, false, false, false};
      for (std::size_t i = 0; i < ts.size(); ++i) {
        const std::string t = ts[i].Scalar();
        const std::string tp = index_path(join_path(op, "triggers"), i);
        if (t == "connect-failure")
          out.retry_on.connect_failure = true;
        else if (t == "reset")
          out.retry_on.reset = true;
        else if (t == "5xx")
          out.retry_on.server_error = true;
        else if (t == "gateway-error")
          out.retry_on.gateway_error = true;
        else if (t == "retriable-4xx")
          out.retry_on.retriable_4xx = true;
        else if (t == "retriable-status-codes")
          out.retry_on.status_codes = true;
        else if (t == "refused-stream" || t == "cancelled" || t == "deadline-exceeded" ||
                 t == "internal" || t == "resource-exhausted" || t == "unavailable")
          doc.warn(ts[i], tp,
                   fmt::format("trigger '{}' is for HTTP/2 or gRPC and has no effect here", t));
        else
          doc.fail(ts[i], tp, fmt::format("unknown retry trigger '{}'", t));
      }
    }
    if (YAML::Node cs = on["httpStatusCodes"];
        cs.IsDefined() && doc.is_seq(cs, join_path(op, "httpStatusCodes"))) {
      out.codes.clear();
      for (std::size_t i = 0; i < cs.size(); ++i) {
        int code = 0;
        try {
          code = cs[i].as<int>();
        } catch (const YAML::Exception&) {
        }
        if (code < 100 || code > 599)
          doc.fail(cs[i], index_path(join_path(op, "httpStatusCodes"), i),
                   "a status must be between 100 and 599");
        else
          out.codes.push_back(code);
      }
      if (!out.retry_on.status_codes && on["triggers"].IsDefined())
        doc.warn(cs, join_path(op, "httpStatusCodes"),
                 "has no effect without the retriable-status-codes trigger");
    }
  }
  if (YAML::Node pr = r["perRetry"]; pr.IsDefined() && doc.is_map(pr, join_path(p, "perRetry"))) {
    const std::string pp = join_path(p, "perRetry");
    doc.check_keys(pr, pp, {"timeout", "backOff"});
    out.per_try_timeout = doc.duration_at(pr, "timeout", pp).value_or(std::chrono::milliseconds(0));
    if (YAML::Node bo = pr["backOff"]; bo.IsDefined() && doc.is_map(bo, join_path(pp, "backOff"))) {
      const std::string bp = join_path(pp, "backOff");
      doc.check_keys(bo, bp, {"baseInterval", "maxInterval"});
      out.backoff = doc.duration_at(bo, "baseInterval", bp).value_or(std::chrono::milliseconds(0));
      out.max_backoff =
          doc.duration_at(bo, "maxInterval", bp).value_or(std::chrono::milliseconds(0));
      if (out.max_backoff.count() > 0 && out.max_backoff < out.backoff)
        doc.fail(bo["maxInterval"], join_path(bp, "maxInterval"),
                 "must not be shorter than baseInterval");
    }
  }
  if (YAML::Node ms = r["methods"]; ms.IsDefined() && doc.is_seq(ms, join_path(p, "methods")))
    for (std::size_t i = 0; i < ms.size(); ++i)
      out.methods.push_back(ms[i].Scalar());
  out.buffer_limit = static_cast<std::uint64_t>(
      doc.int_at(r, "requestBufferLimit", p, false, 0, std::int64_t{1} << 30).value_or(65536));
  return out;
}

}  // namespace

void upstream_settings::apply(cluster_config& c) const {
  c.load_balancer = load_balancer;
  c.health_check = health_check;
  c.outlier_detection = outlier_detection;
  c.circuit_breakers = circuit_breakers;
  c.dns = dns;
  if (connect_timeout) c.connect_timeout = *connect_timeout;
  if (idle_timeout) c.idle_timeout = *idle_timeout;
  c.max_requests_per_connection = max_requests_per_connection;
  if (max_response_head) c.max_response_head = *max_response_head;
  if (max_response_header_count) c.max_response_header_count = *max_response_header_count;
  if (buffer_limit) c.buffer_limit = *buffer_limit;
  if (max_idle_per_endpoint) c.max_idle_per_endpoint = *max_idle_per_endpoint;
  if (max_response_body) c.max_response_body = *max_response_body;
}

std::optional<upstream_settings> read_upstream_settings(document_reader& doc,
                                                        const YAML::Node& spec) {
  upstream_settings out;
  bool any = false;
  if (YAML::Node lb = spec["loadBalancer"]; lb.IsDefined() && doc.is_map(lb, "spec.loadBalancer")) {
    read_load_balancer(doc, lb, "spec.loadBalancer", out);
    out.cluster = any = true;
  }
  if (YAML::Node hc = spec["healthCheck"]; hc.IsDefined() && doc.is_map(hc, "spec.healthCheck")) {
    // panicThreshold (extension): Envoy's healthy_panic_threshold, percent.
    doc.check_keys(hc, "spec.healthCheck", {"active", "passive", "panicThreshold"});
    if (YAML::Node a = hc["active"]; a.IsDefined() && doc.is_map(a, "spec.healthCheck.active"))
      read_active_check(doc, a, "spec.healthCheck.active", out.health_check);
    if (YAML::Node ps = hc["passive"]; ps.IsDefined() && doc.is_map(ps, "spec.healthCheck.passive"))
      read_passive_check(doc, ps, "spec.healthCheck.passive", out.outlier_detection);
    out.load_balancer.panic_threshold_percent =
        u32_at(doc, hc, "panicThreshold", "spec.healthCheck", 50, 0, 100);
    out.cluster = any = true;
  }
  if (YAML::Node cb = spec["circuitBreaker"];
      cb.IsDefined() && doc.is_map(cb, "spec.circuitBreaker")) {
    read_circuit_breaker(doc, cb, "spec.circuitBreaker", out);
    out.cluster = any = true;
  }
  if (YAML::Node d = spec["dns"]; d.IsDefined() && doc.is_map(d, "spec.dns")) {
    // resolvers, hostsFile and timeout (extensions): where names are looked up.
    doc.check_keys(
        d, "spec.dns",
        {"dnsRefreshRate", "respectDnsTtl", "lookupFamily", "resolvers", "hostsFile", "timeout"});
    dns_config& c = out.dns;
    c.refresh = doc.duration_at(d, "dnsRefreshRate", "spec.dns").value_or(c.refresh);
    c.respect_ttl = doc.bool_at(d, "respectDnsTtl", "spec.dns").value_or(true);
    c.timeout = doc.duration_at(d, "timeout", "spec.dns").value_or(c.timeout);
    if (auto f = doc.string_at(d, "lookupFamily", "spec.dns", false);
        f && doc.one_of(d["lookupFamily"], "spec.dns.lookupFamily", *f,
                        {"IPv4", "IPv6", "IPv4Preferred", "IPv6Preferred", "IPv4AndIPv6"}))
      c.family = *f == "IPv4"            ? dns_family::v4
                 : *f == "IPv6"          ? dns_family::v6
                 : *f == "IPv4Preferred" ? dns_family::v4_preferred
                 : *f == "IPv6Preferred" ? dns_family::v6_preferred
                                         : dns_family::v4_and_v6;
    if (YAML::Node rs = d["resolvers"]; rs.IsDefined() && doc.is_seq(rs, "spec.dns.resolvers"))
      for (std::size_t i = 0; i < rs.size(); ++i)
        c.resolvers.push_back(rs[i].Scalar());
    if (auto h = doc.string_at(d, "hostsFile", "spec.dns", false)) c.hosts_file = *h;
    out.cluster = any = true;
  }
  // headers (this project's, after Envoy's max_response_headers_kb and
  // max_headers_count): what an upstream's response head may hold.
  if (YAML::Node h = spec["headers"]; h.IsDefined() && doc.is_map(h, "spec.headers")) {
    doc.check_keys(h, "spec.headers", {"maxResponseHeadersKb", "maxResponseHeadersCount"});
    if (auto kb = doc.int_at(h, "maxResponseHeadersKb", "spec.headers", false, 1, 8192))
      out.max_response_head = static_cast<std::size_t>(*kb) * 1024;
    if (auto n = doc.int_at(h, "maxResponseHeadersCount", "spec.headers", false, 1, 10000))
      out.max_response_header_count = static_cast<std::size_t>(*n);
    out.cluster = any = true;
  }
  // connection: Envoy Gateway's BackendConnection (bufferLimit), and how
  // many idle connections each worker keeps per endpoint (ours, as nginx's
  // `keepalive`).
  if (YAML::Node c = spec["connection"]; c.IsDefined() && doc.is_map(c, "spec.connection")) {
    doc.check_keys(c, "spec.connection", {"bufferLimit", "maxIdlePerEndpoint"});
    if (auto b = doc.bytes_at(c, "bufferLimit", "spec.connection", 1024, std::uint64_t{1} << 30))
      out.buffer_limit = static_cast<std::size_t>(*b);
    if (auto n = doc.int_at(c, "maxIdlePerEndpoint", "spec.connection", false, 0, 65536))
      out.max_idle_per_endpoint = static_cast<std::size_t>(*n);
    out.cluster = any = true;
  }
  // responseBody (this project's): how long a response body may be.
  if (YAML::Node b = spec["responseBody"]; b.IsDefined() && doc.is_map(b, "spec.responseBody")) {
    doc.check_keys(b, "spec.responseBody", {"maxSize"});
    out.max_response_body =
        doc.bytes_at(b, "maxSize", "spec.responseBody", 1, std::uint64_t{1} << 50);
    out.cluster = any = true;
  }
  if (YAML::Node r = spec["retry"]; r.IsDefined() && doc.is_map(r, "spec.retry")) {
    out.retry = read_retry(doc, r, "spec.retry");
    any = true;
  }
  if (YAML::Node t = spec["timeout"]; t.IsDefined() && doc.is_map(t, "spec.timeout")) {
    doc.check_keys(t, "spec.timeout", {"tcp", "http"});
    if (YAML::Node tcp = t["tcp"]; tcp.IsDefined() && doc.is_map(tcp, "spec.timeout.tcp")) {
      doc.check_keys(tcp, "spec.timeout.tcp", {"connectTimeout"});
      if ((out.connect_timeout = doc.duration_at(tcp, "connectTimeout", "spec.timeout.tcp")))
        out.cluster = true;
    }
    if (YAML::Node http = t["http"]; http.IsDefined() && doc.is_map(http, "spec.timeout.http")) {
      doc.check_keys(http, "spec.timeout.http",
                     {"requestTimeout", "connectionIdleTimeout", "maxConnectionDuration",
                      "maxStreamDuration"});
      out.max_stream_duration = doc.duration_at(http, "maxStreamDuration", "spec.timeout.http");
      if (http["maxConnectionDuration"].IsDefined())
        doc.fail(http["maxConnectionDuration"], "spec.timeout.http.maxConnectionDuration",
                 "not supported yet");
      if ((out.idle_timeout = doc.duration_at(http, "connectionIdleTimeout", "spec.timeout.http")))
        out.cluster = true;
      out.request_timeout = doc.duration_at(http, "requestTimeout", "spec.timeout.http");
    }
    any = true;
  }
  // httpUpgrade: [{type: websocket}, {type: spdy/3.1}]: what the rule's
  // requests may upgrade to (replacing the default, WebSocket).
  if (YAML::Node u = spec["httpUpgrade"]; u.IsDefined() && doc.is_seq(u, "spec.httpUpgrade")) {
    std::vector<std::string> types;
    for (std::size_t i = 0; i < u.size(); ++i) {
      const std::string p = index_path("spec.httpUpgrade", i);
      if (!doc.is_map(u[i], p)) continue;
      doc.check_keys(u[i], p, {"type"});
      std::string type = doc.string_at(u[i], "type", p, true).value_or("");
      for (char& c : type)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (type.empty() || type.find_first_of(" ,\t\r\n") != std::string::npos)
        doc.fail(u[i]["type"], join_path(p, "type"), "an upgrade type is one protocol token");
      else
        types.push_back(std::move(type));
    }
    out.upgrades = std::move(types);
    any = true;
  }
  if (!any) return std::nullopt;
  return out;
}

backend_tls_doc read_backend_tls(document_reader& doc, const YAML::Node& d, meta m) {
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  backend_tls_doc out;
  out.m = std::move(m);
  out.tls.enabled = true;
  const YAML::Node spec = d["spec"];
  if (!doc.is_map(spec, "spec")) return out;
  doc.check_keys(spec, "spec", {"targetRefs", "validation", "options"});
  YAML::Node ts = spec["targetRefs"];
  if (!ts.IsDefined()) doc.fail(spec, "spec.targetRefs", "required field is missing");
  if (ts.IsDefined() && doc.is_seq(ts, "spec.targetRefs"))
    for (std::size_t i = 0; i < ts.size(); ++i) {
      const std::string p = index_path("spec.targetRefs", i);
      if (!doc.is_map(ts[i], p)) continue;
      doc.check_keys(ts[i], p, {"group", "kind", "name", "sectionName"});
      backend_tls_doc::target t;
      t.group = doc.string_at(ts[i], "group", p, false).value_or("");
      t.kind = doc.string_at(ts[i], "kind", p, true).value_or("Service");
      t.name = doc.string_at(ts[i], "name", p, true).value_or("");
      t.section = doc.string_at(ts[i], "sectionName", p, false).value_or("");
      if (!(t.group.empty() && t.kind == "Service") &&
          !(t.group == envoy_gateway_group && t.kind == "Backend"))
        doc.fail(ts[i], p, "a BackendTLSPolicy targets a Service (or an Envoy Gateway Backend)");
      out.targets.push_back(std::move(t));
    }
  YAML::Node v = spec["validation"];
  if (!v.IsDefined()) {
    doc.fail(spec, "spec.validation", "required field is missing");
    return out;
  }
  if (!doc.is_map(v, "spec.validation")) return out;
  doc.check_keys(v, "spec.validation",
                 {"caCertificateRefs", "wellKnownCACertificates", "hostname", "subjectAltNames"});
  // The hostname is the SNI and the name the certificate must carry.
  out.tls.sni = doc.string_at(v, "hostname", "spec.validation", true).value_or("");
  if (YAML::Node refs = v["caCertificateRefs"];
      refs.IsDefined() && doc.is_seq(refs, "spec.validation.caCertificateRefs"))
    for (std::size_t i = 0; i < refs.size(); ++i) {
      const std::string p = index_path("spec.validation.caCertificateRefs", i);
      if (!doc.is_map(refs[i], p)) continue;
      doc.check_keys(refs[i], p, {"group", "kind", "name"});
      backend_tls_doc::pem_ref r;
      r.kind = doc.string_at(refs[i], "kind", p, true).value_or("ConfigMap");
      r.name = doc.string_at(refs[i], "name", p, true).value_or("");
      doc.one_of(refs[i]["kind"], join_path(p, "kind"), r.kind, {"ConfigMap", "Secret"});
      r.node = refs[i];
      r.path = p;
      out.ca_refs.push_back(std::move(r));
    }
  if (auto wk = doc.string_at(v, "wellKnownCACertificates", "spec.validation", false)) {
    doc.one_of(v["wellKnownCACertificates"], "spec.validation.wellKnownCACertificates", *wk,
               {"System"});
    out.tls.system_ca = true;
  }
  if (out.ca_refs.empty() == !out.tls.system_ca)
    doc.fail(v, "spec.validation",
             "exactly one of caCertificateRefs and wellKnownCACertificates is needed");
  if (YAML::Node sans = v["subjectAltNames"];
      sans.IsDefined() && doc.is_seq(sans, "spec.validation.subjectAltNames"))
    for (std::size_t i = 0; i < sans.size(); ++i) {
      const std::string p = index_path("spec.validation.subjectAltNames", i);
      if (!doc.is_map(sans[i], p)) continue;
      doc.check_keys(sans[i], p, {"type", "hostname", "uri"});
      const std::string type = doc.string_at(sans[i], "type", p, true).value_or("Hostname");
      if (type != "Hostname") {
        doc.fail(sans[i], join_path(p, "type"), "only Hostname subject alt names are supported");
        continue;
      }
      out.tls.subject_alt_names.push_back(doc.string_at(sans[i], "hostname", p, true).value_or(""));
    }
  // With subject alt names the certificate must carry one of them, not the hostname.
  if (!out.tls.subject_alt_names.empty()) {
    out.tls.verify_hostname = out.tls.subject_alt_names.front();
    out.tls.subject_alt_names.erase(out.tls.subject_alt_names.begin());
  }
  // Options this project understands (Gateway API leaves their names to it).
  if (YAML::Node o = spec["options"]; o.IsDefined() && doc.is_map(o, "spec.options"))
    for (auto it = o.begin(); it != o.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string value = it->second.Scalar();
      const std::string p = join_path("spec.options", key);
      if (key == "gateway.dev/client-certificate") {
        out.client_certificate = backend_tls_doc::pem_ref{"Secret", value, it->second, p};
      } else if (key == "gateway.dev/min-tls-version") {
        if (doc.one_of(it->second, p, value, {"1.2", "1.3"})) out.tls.min_version = value;
      } else if (key == "gateway.dev/insecure-skip-verify") {
        out.tls.insecure_skip_verify = value == "true";
      } else {
        doc.fail(it->first, p,
                 "unknown option (gateway.dev/client-certificate, gateway.dev/min-tls-version, "
                 "gateway.dev/insecure-skip-verify)");
      }
    }
  return out;
}

secret_data read_config_map(document_reader& doc, const YAML::Node& d) {
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "data", "binaryData", "immutable"});
  secret_data out;
  if (YAML::Node data = d["data"]; data.IsDefined() && doc.is_map(data, "data"))
    for (const auto& kv : data)
      out[kv.first.Scalar()] = kv.second.Scalar();
  return out;
}

}  // namespace gateway::manifests
