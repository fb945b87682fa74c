#include "upstream/cluster_state.hpp"

#include <algorithm>

#include "core/logger.hpp"

namespace gateway {

namespace {
std::string endpoint_name(const tcp::endpoint& e) {
  // Appends, not operator+: GCC 12 at -O3 warns (wrongly) on the chain.
  const auto a = e.address();
  std::string s;
  if (a.is_v6()) s.push_back('[');
  s.append(a.to_string());
  if (a.is_v6()) s.push_back(']');
  s.push_back(':');
  s.append(std::to_string(e.port()));
  return s;
}

std::int64_t ms_ticks(std::chrono::milliseconds d) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}
}  // namespace

endpoint_state::endpoint_state(tcp::endpoint where, std::uint32_t w,
                               steady_clock::time_point joined_at)
    : address(where), name(endpoint_name(where)), weight(w ? w : 1) {
  usable_since.store(joined_at == steady_clock::time_point{} ? 0 : to_ticks(joined_at),
                     std::memory_order_relaxed);
}

cluster_state::cluster_state(const cluster_config& config) : config_(config) {
  for (const auto& e : config.endpoints) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(e.address, ec);
    if (ec) continue;  // snapshot::build refused the config already
    // The first endpoints serve from the start: no slow start for them.
    endpoints_.push_back(std::make_shared<endpoint_state>(tcp::endpoint(address, e.port), e.weight,
                                                          steady_clock::time_point{}));
  }
}

std::vector<std::shared_ptr<endpoint_state>> cluster_state::endpoints() const {
  std::lock_guard lock(endpoints_mutex_);
  return endpoints_;
}

void cluster_state::set_endpoints(std::vector<std::shared_ptr<endpoint_state>> next) {
  {
    std::lock_guard lock(endpoints_mutex_);
    endpoints_ = std::move(next);
  }
  bump();
}

void cluster_state::set_healthy(endpoint_state& ep, bool healthy, steady_clock::time_point now) {
  if (ep.healthy.exchange(healthy, std::memory_order_relaxed) == healthy) return;
  if (healthy) ep.usable_since.store(to_ticks(now), std::memory_order_relaxed);
  bump();
}

void cluster_state::report(endpoint_state& ep, upstream_result result, const logger& log) {
  const outlier_detection_config& od = config_.outlier_detection;
  if (!od.enabled()) return;  // the common case: no clock read, no write
  // The usual answer is a success with all counters at zero: three loads, no
  // write, so the endpoint's cache line stays shared between workers.
  auto reset = [](std::atomic<std::uint32_t>& c) {
    if (c.load(std::memory_order_relaxed) != 0) c.store(0, std::memory_order_relaxed);
  };
  auto count = [](std::atomic<std::uint32_t>& c, std::uint32_t threshold) {
    return threshold && c.fetch_add(1, std::memory_order_relaxed) + 1 == threshold;
  };
  const std::int64_t now = to_ticks(coarse_now());
  const bool local = result == upstream_result::local_failure;
  if (local && od.split_local_origin) {
    if (count(ep.consecutive_local, od.consecutive_local_origin_failures))
      eject(ep, now, "consecutive local-origin failures", log);
    return;
  }
  if (od.split_local_origin) reset(ep.consecutive_local);
  if (result == upstream_result::success) {
    reset(ep.consecutive_5xx);
    reset(ep.consecutive_gateway);
    return;
  }
  // Without the split, a connect failure, reset or timeout is a 5xx and a
  // gateway error (it is answered with 502-504), as in Envoy.
  const bool gateway = result == upstream_result::gateway_error || local;
  bool trip = count(ep.consecutive_5xx, od.consecutive_5xx);
  const char* why = "consecutive 5xx";
  if (gateway) {
    if (count(ep.consecutive_gateway, od.consecutive_gateway_errors) && !trip) {
      trip = true;
      why = "consecutive gateway errors";
    }
  } else {
    reset(ep.consecutive_gateway);
  }
  if (trip) eject(ep, now, why, log);
}

void cluster_state::eject(endpoint_state& ep, std::int64_t now, const char* why,
                          const logger& log) {
  const outlier_detection_config& od = config_.outlier_detection;
  std::int64_t until = 0;
  {
    std::lock_guard lock(ejection_mutex_);
    if (ep.ejected(now)) return;
    auto list = endpoints();
    std::size_t ejected = 0;
    for (const auto& e : list)
      if (e->ejected(now)) ++ejected;
    // Never more than the percentage, but one may always go (Envoy's rule).
    if (ejected >= 1 && (ejected + 1) * 100 > list.size() * od.max_ejection_percent) {
      ep.consecutive_5xx.store(0, std::memory_order_relaxed);
      ep.consecutive_gateway.store(0, std::memory_order_relaxed);
      ep.consecutive_local.store(0, std::memory_order_relaxed);
      log.log(log_level::warn,
              "upstream {} {}: {}, not ejected: max ejection percent ({}%) reached", config_.name,
              ep.name, why, od.max_ejection_percent);
      return;
    }
    // The multiplier decays by one per interval spent back in service, so an
    // endpoint that failed long ago starts again from the base time.
    if (ep.ejection_multiplier > 0 && ep.returned_at > 0 && od.interval.count() > 0) {
      const auto decay = static_cast<std::uint64_t>((now - ep.returned_at) / ms_ticks(od.interval));
      ep.ejection_multiplier = decay >= ep.ejection_multiplier
                                   ? 0
                                   : ep.ejection_multiplier - static_cast<std::uint32_t>(decay);
    }
    ++ep.ejection_multiplier;
    const std::int64_t span =
        std::min(ms_ticks(od.base_ejection_time) * ep.ejection_multiplier,
                 std::max(ms_ticks(od.max_ejection_time), ms_ticks(od.base_ejection_time)));
    until = now + span;
    ep.returned_at = until;
    ep.ejected_until.store(until, std::memory_order_relaxed);
    ep.usable_since.store(until, std::memory_order_relaxed);  // slow start after it returns
    ep.consecutive_5xx.store(0, std::memory_order_relaxed);
    ep.consecutive_gateway.store(0, std::memory_order_relaxed);
    ep.consecutive_local.store(0, std::memory_order_relaxed);
    ep.ejections.fetch_add(1, std::memory_order_relaxed);
  }
  bump();
  log.log(log_level::warn, "upstream {} {}: ejected for {} ms ({})", config_.name, ep.name,
          (until - now) / 1000000, why);
}

}  // namespace gateway
