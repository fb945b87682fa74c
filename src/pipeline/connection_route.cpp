// A connection carried whole (TCPRoute, TLSRoute): its listener and route
// from the server name (the TLS SNI, or none for plain TCP), a backend by
// weight, an endpoint from the cluster's balancer under its connection
// limit, a connection to it (retried on other endpoints when it fails),
// then bytes both ways (tunnel.cpp). One stats record and access-log line
// for the whole connection.
#include "pipeline/request_steps.hpp"
#include "server/worker.hpp"
#include "stream/stream.hpp"

namespace gateway {

namespace {
// Endpoints tried for one connection: a refused or timed-out connect goes
// to another endpoint (each failure also counts for outlier detection).
constexpr int connect_attempts = 3;
}  // namespace

asio::awaitable<void> stream::carry_connection(const listener_runtime* chosen,
                                               std::string_view server_name) {
  request_id_len_ = write_request_id(request_id_, worker_.random(), worker_.random());
  request_id_generated_ = true;
  record_.connection = true;
  if (record_.start == steady_clock::time_point{}) record_.start = steady_clock::now();
  if (worker_.access_log_enabled()) record_.host.assign(server_name);
  listener_ = chosen ? chosen : down_->listener;
  record_.series = listener_->unrouted_series;
  const auto refuse = [&](const char* why) {
    if (worker_.log().enabled(log_level::debug))
      worker_.log().log(log_level::debug,
                        "connection from {} to {} (server name '{}'): {} [request {}]",
                        client_view(), listener_->config.name, server_name, why, request_id());
  };
  if (!chosen) {
    refuse("no listener serves this name");
    co_return;
  }
  request_view by_name;
  by_name.host = server_name;
  by_name.path = "/";  // a connection route's rule is one match of any path
  const route_selection sel = chosen->table->match(by_name);
  if (!sel) {
    refuse("no route");
    co_return;
  }
  record_.matched_route = sel.matched_route;
  const auto found = chosen->rules.find(sel.rule);
  if (found == chosen->rules.end() || found->second.backends.empty()) {
    record_.series = found == chosen->rules.end() ? record_.series : found->second.local_series;
    refuse("the route has no usable backend");
    co_return;
  }
  const resolved_backend* backend = pick_backend(found->second);
  record_.series = backend->series;
  if (backend->cluster == invalid_backend) {
    refuse("the route's backend is invalid");
    co_return;
  }
  const std::size_t cluster = backend->cluster;
  cluster_state& cs = *down_->snap->clusters[cluster].state;
  const load_balancer_config& lb = cs.config().load_balancer;
  pick_ = {};
  if (lb.policy == lb_policy::ring_hash || lb.policy == lb_policy::maglev)
    pick_.hash = pick_hash(
        lb.hash, {}, client_view(), [this] { return worker_.random(); }, set_cookie_);
  connection_pool& pool = worker_.pool();
  const scoped_count active(worker_.upstream_active);
  for (int attempt = 0;; ++attempt) {
    const std::size_t host = pool.pick(*down_->snap, cluster, pick_, coarse_now());
    if (host == ~std::size_t{0}) {
      refuse("no healthy endpoint");
      co_return;
    }
    endpoint_state& ep = *pool.endpoint(*down_->snap, cluster, host);
    if (!pool.make_room(*down_->snap, cluster, host)) {
      cs.overflow_connections.fetch_add(1, std::memory_order_relaxed);
      refuse("the cluster's connection limit is reached");
      co_return;
    }
    last_endpoint_ = &ep;
    record_.upstream_used = true;
    record_.upstream_address = ep.address;
    const auto connect_start = steady_clock::now();
    if (co_await open_upstream(cs, ep, cluster, host, true)) {
      record_.upstream_us = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - connect_start)
              .count());
      h1_.attach(pool, *down_->snap, cluster, host, std::move(opening_));
      cs.report(ep, upstream_result::success, worker_.log());
      break;
    }
    if (down_->forced || down_->gone() || attempt + 1 >= connect_attempts) co_return;
    pick_.avoid = &ep;
  }
  link_ = &h1_;
  if (lb.policy == lb_policy::least_request) {
    endpoint_active_ = last_endpoint_;
    endpoint_active_->active.fetch_add(1, std::memory_order_relaxed);
  }
  byte_pipe* client = down_->pipe();
  if (client)
    co_await carry_bytes(*client, h1_.begin_bytes(listener_->config.limits.stream_idle_timeout));
  end_endpoint_request();
  finish_link(false);
}

}  // namespace gateway
