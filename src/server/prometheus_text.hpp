#pragma once
// The Prometheus text exposition format (version 0.0.4) of the gateway's
// stats: every family of core/metrics.hpp's table, in its order.
#include <functional>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "server/snapshot.hpp"
#include "server/stats.hpp"

namespace gateway {

// Writes a `rows` family's rows (its header is written already).
using metric_rows = std::function<void(const metrics::family&, std::string& out)>;

// `total` is the sum of every worker's report, with the server's own fixed
// families set in it; `labels` names its series; `rows` writes the rest.
std::string prometheus_text(const std::vector<series_labels>& labels, const worker_report& total,
                            const metric_rows& rows);

// Writes the rows of an upstream family (owner::upstream) for the clusters of `snap`.
void upstream_rows(const metrics::family& f, std::string& out, const snapshot& snap);

// Writes gateway_filter_events_total: the filter counters `counts` has
// (by id; what the workers counted), zeros left out.
void filter_rows(const metrics::family& f, std::string& out,
                 const std::vector<std::uint64_t>& counts);

// Writes the certificate expiry rows (owner::certificates) of the HTTPS listeners of `snap`.
void certificate_rows(const metrics::family& f, std::string& out, const snapshot& snap);

}  // namespace gateway
