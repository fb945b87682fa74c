#include "upstream/upstream_monitor.hpp"

#include "upstream/dns_resolver.hpp"
#include "upstream/grpc_probe.hpp"

#include <gateway/http.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <future>
#include <map>
#include <random>

namespace gateway {

struct upstream_monitor::watched {
  std::shared_ptr<cluster_state> state;
  bool stopped = false;
  asio::steady_timer health_timer, dns_timer;
  // Probe streaks per endpoint; only the monitor thread touches them.
  struct streak {
    std::uint32_t ok = 0, failed = 0;
    bool in_flight = false;
  };
  std::unordered_map<const endpoint_state*, streak> streaks;
  std::minstd_rand rng{std::random_device{}()};
  // DNS: the endpoints each name has now (kept when a refresh fails).
  std::unique_ptr<dns_resolver> resolver;
  std::map<std::string, std::vector<std::shared_ptr<endpoint_state>>> by_name;
  bool resolved_once = false;
  watched(std::shared_ptr<cluster_state> s, asio::io_context& ctx)
      : state(std::move(s)), health_timer(ctx), dns_timer(ctx) {}
  void stop() {
    stopped = true;
    health_timer.cancel();
    dns_timer.cancel();
  }
};

namespace {
bool has_names(const cluster_config& c) {
  for (const auto& e : c.endpoints) {
    boost::system::error_code ec;
    asio::ip::make_address(e.address, ec);
    if (ec) return true;
  }
  return false;
}
}  // namespace

upstream_monitor::upstream_monitor(const logger& log)
    : log_(log), work_(context_.get_executor()), thread_([this] { context_.run(); }) {}

upstream_monitor::~upstream_monitor() {
  // Probes and lookups in flight are abandoned (their frames go with the context).
  std::promise<void> done;
  asio::post(context_, [this, &done] {
    for (auto& [key, w] : watched_)
      w->stop();
    watched_.clear();
    done.set_value();
  });
  done.get_future().wait();
  work_.reset();
  context_.stop();
  thread_.join();
}

bool upstream_monitor::watches(const cluster_config& c) {
  return c.health_check.type != health_check_type::none || has_names(c);
}

std::future<void> upstream_monitor::sync(
    const std::vector<std::shared_ptr<cluster_state>>& clusters) {
  auto all_first = std::make_shared<std::promise<void>>();
  std::future<void> ready = all_first->get_future();
  asio::post(context_, [this, clusters, all_first] {
    std::unordered_map<const cluster_state*, std::shared_ptr<watched>> next;
    auto pending = std::make_shared<std::size_t>(1);  // first lookups not done, +1 for this
    auto one_done = [pending, all_first] {
      if (--*pending == 0) all_first->set_value();
    };
    for (const auto& c : clusters) {
      const bool health = c->config().health_check.type != health_check_type::none;
      const bool dns = has_names(c->config());
      if (!health && !dns) continue;
      if (auto it = watched_.find(c.get()); it != watched_.end()) {
        next.emplace(c.get(), it->second);
        watched_.erase(it);
        continue;
      }
      auto w = std::make_shared<watched>(c, context_);
      next.emplace(c.get(), w);
      if (dns) {
        try {
          w->resolver = std::make_unique<dns_resolver>(context_, c->config().dns);
        } catch (const std::exception& e) {  // validated before; never leave it silent
          log_.log(log_level::error, "upstream {}: DNS: {}", c->config().name, e.what());
        }
        if (w->resolver) {
          ++*pending;
          asio::co_spawn(context_, refresh_dns(w, one_done), asio::detached);
        }
      }
      if (health) asio::co_spawn(context_, check_health(w), asio::detached);
    }
    for (auto& [key, w] : watched_)  // no longer served
      w->stop();
    watched_ = std::move(next);
    one_done();
  });
  return ready;
}

asio::awaitable<void> upstream_monitor::check_health(std::shared_ptr<watched> w) {
  const health_check_config& hc = w->state->config().health_check;
  while (!w->stopped) {
    // Every endpoint of the round is probed at once; one still in flight from
    // the last round (a timeout longer than the interval) is not doubled.
    const auto list = w->state->endpoints();
    for (const auto& ep : list) {
      auto& s = w->streaks[ep.get()];
      if (s.in_flight) continue;
      s.in_flight = true;
      asio::co_spawn(context_, probe(w, ep), asio::detached);
    }
    // Endpoints that left the cluster (DNS) leave their streaks.
    std::erase_if(w->streaks, [&](const auto& entry) {
      if (entry.second.in_flight) return false;
      return std::none_of(list.begin(), list.end(),
                          [&](const auto& ep) { return ep.get() == entry.first; });
    });
    auto wait = hc.interval;
    if (hc.jitter.count() > 0)
      wait +=
          std::chrono::milliseconds(w->rng() % static_cast<std::uint64_t>(hc.jitter.count() + 1));
    w->health_timer.expires_after(wait);
    co_await w->health_timer.async_wait(use_tuple);
  }
}

asio::awaitable<std::chrono::milliseconds> upstream_monitor::resolve_all(watched& w) {
  const cluster_config& cfg = w.state->config();
  const dns_config& dns = cfg.dns;
  const auto now = steady_clock::now();
  std::chrono::milliseconds next = dns.refresh;
  bool changed = false;
  for (const auto& e : cfg.endpoints) {
    boost::system::error_code ec;
    asio::ip::make_address(e.address, ec);
    if (!ec) continue;  // a numeric endpoint: cluster_state has it already
    dns_result r = co_await w.resolver->resolve(e.address);
    if (w.stopped) co_return next;
    auto& current = w.by_name[e.address];
    if (!r.error.empty()) {
      // Keep what the name had; try again sooner than a full refresh.
      log_.log(log_level::warn, "upstream {}: DNS lookup of {} failed ({}): {} addresses kept",
               cfg.name, e.address, r.error, current.size());
      next = std::min(next, std::min(dns.refresh, std::chrono::milliseconds(5000)));
      continue;
    }
    if (dns.respect_ttl && r.ttl.count() > 0)
      next = std::min(next, std::max<std::chrono::milliseconds>(std::chrono::seconds(1), r.ttl));
    std::vector<std::shared_ptr<endpoint_state>> fresh;
    for (const auto& a : r.addresses) {
      const tcp::endpoint where(a, e.port);
      auto old = std::find_if(current.begin(), current.end(),
                              [&](const auto& s) { return s->address == where; });
      // An address that stays keeps its state (health, ejection, counts); a
      // new one ramps up under slow start, unless it came with the first lookup.
      if (old != current.end()) {
        fresh.push_back(*old);
        continue;
      }
      auto ep = std::make_shared<endpoint_state>(
          where, e.weight, w.resolved_once ? now : steady_clock::time_point{});
      ep->from_dns = true;
      ep->hostname = e.address;
      fresh.push_back(std::move(ep));
    }
    if (fresh != current) {
      changed = true;
      std::string list;
      for (const auto& s : fresh)
        list += (list.empty() ? "" : ", ") + s->name;
      log_.log(log_level::info, "upstream {}: {} resolves to {}", cfg.name, e.address,
               list.empty() ? "nothing" : list);
      current = std::move(fresh);
    }
  }
  if (changed) {
    // The numeric endpoints stay as they are; the named ones follow DNS.
    std::vector<std::shared_ptr<endpoint_state>> all;
    for (const auto& ep : w.state->endpoints())
      if (!ep->from_dns) all.push_back(ep);
    for (auto& [name, eps] : w.by_name)
      for (const auto& ep : eps)
        if (std::find(all.begin(), all.end(), ep) == all.end()) all.push_back(ep);
    w.state->set_endpoints(std::move(all));
  }
  w.resolved_once = true;
  co_return next;
}

asio::awaitable<void> upstream_monitor::refresh_dns(std::shared_ptr<watched> w,
                                                    std::function<void()> first_done) {
  while (!w->stopped) {
    const auto next = co_await resolve_all(*w);
    if (first_done) {
      first_done();
      first_done = nullptr;
    }
    if (w->stopped) break;
    w->dns_timer.expires_after(next);
    co_await w->dns_timer.async_wait(use_tuple);
  }
  if (first_done) first_done();
}

// GCC 12 reports a mismatched operator delete for this coroutine's frame
// (Asio's frame allocator pairs them correctly); a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> upstream_monitor::probe(std::shared_ptr<watched> w,
                                              std::shared_ptr<endpoint_state> ep) {
  const cluster_config& cfg = w->state->config();
  const health_check_config& hc = cfg.health_check;
  // Probes go the way requests do: through TLS when the cluster has it, in
  // the protocol it speaks (a gRPC check always in HTTP/2).
  outbound_target to;
  to.address = ep->address;
  to.tls = w->state->tls.get();
  to.server_name = ep->hostname;
  to.http2 = cfg.protocol == upstream_protocol::http2 || hc.type == health_check_type::grpc;
  const std::string authority = hc.host.empty() ? ep->name : hc.host;
  std::string why;
  bool healthy = false;
  if (hc.type == health_check_type::tcp) {
    const outbound_response r = co_await outbound_bytes(to, hc.send, hc.receive, hc.timeout);
    healthy = r.complete;
    why = r.why;
  } else if (hc.type == health_check_type::grpc) {
    const std::string body = grpc_health_request(hc.grpc_service);
    outbound_request q;
    q.method = "POST";
    q.authority = authority;
    q.target = "/grpc.health.v1.Health/Check";
    q.fields = grpc_health_fields();
    q.body = body;
    q.timeout = hc.timeout;
    healthy = grpc_serving(co_await outbound_call(to, q), why);
  } else {
    static constexpr std::array<http::header, 1> fields = {
        http::header{"user-agent", "gateway-health-check"}};
    outbound_request q;
    q.method = hc.method;
    q.authority = authority;
    q.target = hc.path;
    q.fields = fields;
    q.timeout = hc.timeout;
    const outbound_response r = co_await outbound_call(to, q);
    const bool status_ok = std::any_of(
        hc.expected_statuses.begin(), hc.expected_statuses.end(),
        [&](const auto& range) { return r.status >= range.first && r.status <= range.second; });
    // The expected body is looked for in the first 64 KiB, whole or not.
    const bool body_ok =
        hc.expected_body.empty() || r.body.find(hc.expected_body) != std::string::npos;
    healthy = r.status != 0 && status_ok && body_ok;
    if (r.status == 0)
      why = r.why;
    else if (!status_ok)
      why = fmt::format("status {}", r.status);
    else if (!body_ok)
      why = r.complete ? "expected body not found" : r.why;
  }

  auto& s = w->streaks[ep.get()];
  s.in_flight = false;
  if (w->stopped) co_return;
  const bool was = ep->healthy.load(std::memory_order_relaxed);
  if (healthy) {
    s.failed = 0;
    ++s.ok;
    if (!was && s.ok >= hc.healthy_threshold) {
      w->state->set_healthy(*ep, true, steady_clock::now());
      log_.log(log_level::info, "upstream {} {}: health check passed {} times: healthy", cfg.name,
               ep->name, s.ok);
    }
  } else {
    ep->health_failures.fetch_add(1, std::memory_order_relaxed);
    s.ok = 0;
    ++s.failed;
    if (was && s.failed >= hc.unhealthy_threshold) {
      w->state->set_healthy(*ep, false, steady_clock::now());
      log_.log(log_level::warn, "upstream {} {}: health check failed {} times ({}): unhealthy",
               cfg.name, ep->name, s.failed, why);
    } else {
      log_.log(log_level::debug, "upstream {} {}: health check failed ({})", cfg.name, ep->name,
               why);
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace gateway
