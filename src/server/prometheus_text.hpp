#pragma once
// The Prometheus text exposition format (version 0.0.4) of the gateway's stats.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "server/snapshot.hpp"
#include "server/stats.hpp"

namespace gateway {

// Process-wide values that are not per series.
struct server_gauges {
  std::uint64_t config_version = 0;
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  bool last_reload_ok = true;       // the last reload succeeded (or there was none)
  std::int64_t last_reload_at = 0;  // when it ran, Unix seconds (0: none yet)
  std::int64_t started_at = 0;      // when the server started, Unix seconds
  std::uint64_t spans_exported = 0, spans_failed = 0;  // by the current trace exporter
  std::vector<tls::certificate_expiry> certificates;   // of the HTTPS listeners
  std::uint64_t connections = 0;                       // open client connections
  unsigned workers = 0;
  unsigned workers_reporting = 0;  // workers that answered the scrape in time
  // The overload manager: its level (0 normal, 1 saturated, 2 shedding), what
  // it measured last and the transitions into each level.
  unsigned overload = 0;
  std::uint64_t heap = 0, descriptors = 0;
  std::array<std::uint64_t, 3> overload_transitions{};
};

// `total` is the sum of every worker's report; `labels` names its series.
std::string prometheus_text(const std::vector<series_labels>& labels, const worker_report& total,
                            const server_gauges& gauges);

// Appends the upstream clusters' metrics (per cluster and endpoint: health,
// ejections, connections, circuit-breaker overflows, retries) of `snap`.
void append_upstream_metrics(std::string& out, const snapshot& snap);

}  // namespace gateway
