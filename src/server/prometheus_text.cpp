#include "server/prometheus_text.hpp"

#include <charconv>

#include "filters/filter_counters.hpp"

namespace gateway {
namespace {

using metrics::append_label_value;
using metrics::write_header;
using metrics::write_row;

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

// `label="value"` for the `i`th value of a fixed or series family.
void append_value_label(std::string& out, const metrics::family& f, std::size_t i) {
  out.append(f.label).append("=\"");
  append_label_value(out, metrics::label_value(f, i));
  out.push_back('"');
}

// A fixed family: every value's slot, zeros included (a counter that exists).
void fixed_rows(std::string& out, const metrics::family& f, std::size_t at,
                const metrics::block& b) {
  std::string labels;
  for (std::size_t i = 0; i < metrics::value_count(f.values); ++i) {
    labels.clear();
    if (!f.values.empty()) append_value_label(labels, f, i);
    write_row(out, f, labels, b.v[at + i]);
  }
}

// A series family: the series that counted something (a reload leaves many
// series that never will again).
void series_rows(std::string& out, const metrics::family& f, std::size_t at,
                 const std::vector<series_labels>& labels, const std::vector<series_stats>& all) {
  const std::size_t n = std::min(labels.size(), all.size());
  std::string l;
  for (std::size_t s = 0; s < n; ++s) {
    const auto& v = all[s].v;
    l.clear();
    append_series_labels(l, labels[s]);
    if (f.kind != metrics::histogram) {
      for (std::size_t i = 0; i < metrics::value_count(f.values); ++i) {
        if (v[at + i] == 0) continue;
        if (f.values.empty()) {
          write_row(out, f, l, v[at + i]);
          continue;
        }
        std::string with = l;
        with.push_back(',');
        append_value_label(with, f, i);
        write_row(out, f, with, v[at + i]);
      }
      continue;
    }
    const std::size_t buckets = metrics::latency_bounds_us.size() + 1;
    std::uint64_t count = 0;
    for (std::size_t b = 0; b < buckets; ++b)
      count += v[at + b];
    if (count == 0) continue;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
      cumulative += v[at + b];
      std::string with = l;
      with.append(",le=\"");
      if (b < metrics::latency_bounds_us.size())
        append_seconds(with, metrics::latency_bounds_us[b]);
      else
        with.append("+Inf");
      with.push_back('"');
      write_row(out, f, with, cumulative, "_bucket");
    }
    out.append(f.name).append("_sum{").append(l).append("} ");
    append_seconds(out, v[at + buckets]);
    out.push_back('\n');
    write_row(out, f, l, count, "_count");
  }
}

}  // namespace

std::string prometheus_text(const std::vector<series_labels>& labels, const worker_report& total,
                            const metric_rows& rows) {
  std::string out;
  out.reserve(8192 + labels.size() * 2048);
  std::size_t fixed_at = 0, series_at = 0;
  for (const metrics::family& f : metrics::families) {
    write_header(out, f);
    switch (f.where) {
      case metrics::fixed:
        fixed_rows(out, f, fixed_at, total.counters);
        fixed_at += metrics::width(f);
        break;
      case metrics::series:
        series_rows(out, f, series_at, labels, total.series);
        series_at += metrics::width(f);
        break;
      case metrics::rows:
        if (rows) rows(f, out);
        break;
    }
  }
  return out;
}

void filter_rows(const metrics::family& f, std::string& out,
                 const std::vector<std::uint64_t>& counts) {
  if (counts.empty()) return;
  const std::vector<filters::counter_labels> labels = filters::declared_counters();
  std::string l;
  for (std::size_t id = 0; id < counts.size() && id < labels.size(); ++id) {
    if (counts[id] == 0) continue;
    l.assign("filter=\"");
    append_label_value(l, labels[id].filter);
    l.append("\",type=\"");
    append_label_value(l, labels[id].type);
    l.append("\",event=\"");
    append_label_value(l, labels[id].event);
    l.push_back('"');
    write_row(out, f, l, counts[id]);
  }
}

void certificate_rows(const metrics::family& f, std::string& out, const snapshot& snap) {
  for (const socket_group& group : snap.groups) {
    if (!group.tls) continue;
    for (const tls::certificate_expiry& c : group.tls->certificates()) {
      std::string labels = "listener=\"";
      append_label_value(labels, c.listener);
      labels.append("\",name=\"");
      append_label_value(labels, c.name);
      labels.append("\",key=\"").append(c.key).push_back('"');
      write_row(out, f, labels, static_cast<std::uint64_t>(std::max<std::int64_t>(c.not_after, 0)));
    }
  }
}

void upstream_rows(const metrics::family& f, std::string& out, const snapshot& snap) {
  // The coarse clock, as the workers read it: an endpoint shown back is back for them.
  const std::int64_t now = to_ticks(coarse_now());
  const std::string_view name = f.name;
  for (const auto& c : snap.clusters) {
    if (!c.state) continue;
    const cluster_state& s = *c.state;
    std::string cluster = "cluster=\"";
    append_label_value(cluster, c.config.name);
    cluster.push_back('"');
    const auto endpoints = s.endpoints();
    if (name.starts_with("gateway_upstream_endpoint_")) {
      for (const auto& e : endpoints) {
        std::string labels = cluster;
        labels.append(",endpoint=\"");
        append_label_value(labels, e->name);
        labels.push_back('"');
        std::uint64_t v = 0;
        if (name == "gateway_upstream_endpoint_healthy")
          v = e->healthy.load();
        else if (name == "gateway_upstream_endpoint_ejected")
          v = e->ejected(now);
        else if (name == "gateway_upstream_endpoint_ejections_total")
          v = e->ejections.load();
        else if (name == "gateway_upstream_endpoint_health_check_failures_total")
          v = e->health_failures.load();
        else if (name == "gateway_upstream_endpoint_connections")
          v = e->connections.load();
        write_row(out, f, labels, v);
      }
    } else if (name == "gateway_upstream_cluster_active") {
      for (const auto& [kind, value] : {std::pair{"connections", s.connections.load()},
                                        {"requests", s.requests.load()},
                                        {"pending", s.pending.load()},
                                        {"retries", s.retries.load()}})
        write_row(out, f, cluster + ",kind=\"" + kind + "\"", value);
    } else if (name == "gateway_upstream_overflow_total") {
      for (const auto& [limit, value] : {std::pair{"connections", s.overflow_connections.load()},
                                         {"pending", s.overflow_pending.load()},
                                         {"requests", s.overflow_requests.load()},
                                         {"retries", s.overflow_retries.load()},
                                         {"retry_budget", s.retries_budget_refused.load()}})
        write_row(out, f, cluster + ",limit=\"" + limit + "\"", value);
    } else if (name == "gateway_upstream_idle_shed_total") {
      write_row(out, f, cluster, s.idle_shed.load());
    } else if (name == "gateway_upstream_retries_total") {
      write_row(out, f, cluster, s.retries_total.load());
    } else if (name == "gateway_upstream_panic") {
      std::size_t usable = 0;
      for (const auto& e : endpoints)
        if (e->healthy.load() && !e->ejected(now)) ++usable;
      const auto threshold = c.config.load_balancer.panic_threshold_percent;
      write_row(out, f, cluster, !endpoints.empty() && usable * 100 < endpoints.size() * threshold);
    }
  }
}

}  // namespace gateway
