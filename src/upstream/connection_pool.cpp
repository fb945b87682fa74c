#include "upstream/connection_pool.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "asio/socket_calls.hpp"
#include "server/snapshot.hpp"
#include "upstream/h2_connection.hpp"
#include "upstream/primes.hpp"
#include "upstream/retry_rules.hpp"

namespace gateway {
namespace {
// An idle keep-alive connection must have nothing to read: EOF means the
// upstream closed it, and stray bytes mean it is out of step. One peek, no wait.
bool still_open(tcp::socket& s) noexcept {
  char byte;
  ssize_t n = socket_calls::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

constexpr std::int64_t never = INT64_MAX;
constexpr std::size_t npos = ~std::size_t{0};

std::int64_t ticks(std::chrono::milliseconds d) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}
}  // namespace

upstream_connection::upstream_connection(asio::any_io_executor ex, std::shared_ptr<cluster_state> c,
                                         std::shared_ptr<endpoint_state> e)
    : socket(ex), cluster(std::move(c)), endpoint(std::move(e)) {
  cluster->connections.fetch_add(1, std::memory_order_relaxed);
  endpoint->connections.fetch_add(1, std::memory_order_relaxed);
}

upstream_connection::~upstream_connection() {
  cluster->connections.fetch_sub(1, std::memory_order_relaxed);
  endpoint->connections.fetch_sub(1, std::memory_order_relaxed);
}

connection_pool::connection_pool(asio::any_io_executor ex)
    : executor_(std::move(ex)),
      rng_(0x9E3779B97F4A7C15ULL ^ reinterpret_cast<std::uintptr_t>(this)) {}

std::unique_ptr<connection_pool::cluster_pool> connection_pool::make_pool(const cluster_runtime& c,
                                                                          bool live) {
  auto pool = std::make_unique<cluster_pool>();
  pool->key = c.key;
  pool->live = live;
  pool->state = c.state;
  return pool;
}

void connection_pool::adopt(const snapshot& current) {
  for (auto& [key, pool] : pools_)
    pool->live = false;
  slots_.clear();
  slots_.reserve(current.clusters.size());
  for (const auto& c : current.clusters) {
    auto& pool = pools_[c.key];
    if (!pool) pool = make_pool(c, true);
    pool->live = true;
    slots_.push_back(pool.get());
  }
  // No reference to a pool is held across a suspension (requests look their
  // pool up at each step), so dropped pools can go now; their idle
  // connections close with them.
  std::erase_if(pools_, [](const auto& entry) { return !entry.second->live; });
  current_ = &current;
}

connection_pool::cluster_pool& connection_pool::pool_for(const snapshot& s, std::size_t c) {
  if (&s == current_) return *slots_[c];
  // A request that started on an older snapshot: its cluster may be gone from
  // the current one; then it gets a pool of its own that nothing is returned to.
  const cluster_runtime& cluster = s.clusters[c];
  auto& pool = pools_[cluster.key];
  if (!pool) pool = make_pool(cluster, false);
  return *pool;
}

void connection_pool::rebuild(cluster_pool& pool, std::int64_t now) {
  const cluster_state& st = *pool.state;
  const cluster_config& cfg = st.config();
  const std::uint64_t generation = st.generation();
  if (generation != pool.generation) {
    // The endpoint list may have changed (DNS): keep the idle connections of
    // endpoints that stay, close those of endpoints that left.
    auto list = st.endpoints();
    std::vector<host_entry> hosts;
    hosts.reserve(list.size());
    for (auto& ep : list) {
      host_entry h(std::move(ep));
      for (auto& old : pool.hosts)
        if (old.ep == h.ep) {
          h.idle = std::move(old.idle);
          h.shared = std::move(old.shared);
          h.session = std::move(old.session);
        }
      hosts.push_back(std::move(h));
    }
    pool.hosts = std::move(hosts);
    pool.generation = generation;
  }
  pool.refresh_at = never;
  pool.usable.clear();
  for (std::size_t i = 0; i < pool.hosts.size(); ++i) {
    const endpoint_state& ep = *pool.hosts[i].ep;
    const std::int64_t until = ep.ejected_until.load(std::memory_order_relaxed);
    if (until > now) pool.refresh_at = std::min(pool.refresh_at, until);  // it returns then
    if (ep.healthy.load(std::memory_order_relaxed) && until <= now)
      pool.usable.push_back(static_cast<std::uint32_t>(i));
  }
  // Panic: too few usable endpoints would take more than they can; spread
  // over all of them instead (Envoy's panic threshold).
  const auto& lb = cfg.load_balancer;
  if (pool.usable.size() * 100 < pool.hosts.size() * lb.panic_threshold_percent) {
    pool.usable.resize(pool.hosts.size());
    for (std::size_t i = 0; i < pool.hosts.size(); ++i)
      pool.usable[i] = static_cast<std::uint32_t>(i);
  }
  pool.rr.reset();
  pool.hashing.reset();
  pool.cumulative.clear();
  if (pool.usable.empty()) return;

  std::vector<std::uint32_t> weights;
  weights.reserve(pool.usable.size());
  const bool hashing = lb.policy == lb_policy::ring_hash || lb.policy == lb_policy::maglev;
  const std::int64_t window = ticks(lb.slow_start);
  for (std::uint32_t i : pool.usable) {
    const endpoint_state& ep = *pool.hosts[i].ep;
    std::uint64_t w = ep.weight;
    const std::int64_t since = ep.usable_since.load(std::memory_order_relaxed);
    // `now` is the coarse clock, a few ms behind the one `since` may come from.
    const std::int64_t elapsed = std::max<std::int64_t>(0, now - since);
    if (!hashing && window > 0 && since > 0 && elapsed < window) {
      // Linear ramp from the minimum share to the full weight; the balancer
      // is rebuilt in steps of a twentieth of the window meanwhile.
      const double share = std::max(static_cast<double>(lb.slow_start_min_percent) / 100.0,
                                    static_cast<double>(elapsed) / static_cast<double>(window));
      w = std::max<std::uint64_t>(
          1, static_cast<std::uint64_t>(static_cast<double>(w) * share * 100.0));
      pool.refresh_at = std::min(pool.refresh_at, now + std::max<std::int64_t>(window / 20, 1));
    } else {
      w *= 100;  // the same scale as a ramping weight
    }
    weights.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(w, UINT32_MAX)));
  }
  pool.equal_weights =
      std::all_of(weights.begin(), weights.end(), [&](std::uint32_t w) { return w == weights[0]; });
  if (hashing) {
    std::vector<std::string> names;
    names.reserve(pool.usable.size());
    for (std::uint32_t i : pool.usable)
      names.push_back(pool.hosts[i].ep->name);
    // DNS may bring more endpoints than a small table has slots: then the
    // next prime that fits (never an exception on a worker).
    const std::uint32_t size = lb.policy != lb_policy::maglev ? lb.ring_points
                               : lb.table_size >= names.size()
                                   ? lb.table_size
                                   : next_prime(static_cast<std::uint32_t>(names.size()));
    pool.hashing.emplace(lb.policy, names, weights, size);
  } else if (lb.policy == lb_policy::round_robin) {
    pool.rr.emplace(weights);
  } else {
    std::uint64_t sum = 0;
    for (std::uint32_t w : weights)
      pool.cumulative.push_back(sum += w);
  }
}

std::size_t connection_pool::weighted_draw(const cluster_pool& pool) noexcept {
  const std::size_t n = pool.usable.size();
  if (pool.equal_weights) return static_cast<std::size_t>(random() % n);
  const std::uint64_t ticket = random() % pool.cumulative.back();
  return static_cast<std::size_t>(
      std::upper_bound(pool.cumulative.begin(), pool.cumulative.end(), ticket) -
      pool.cumulative.begin());
}

std::size_t connection_pool::pick(const snapshot& s, std::size_t c, const pick_context& ctx,
                                  steady_clock::time_point now_tp) {
  cluster_pool& pool = pool_for(s, c);
  const std::int64_t now = to_ticks(now_tp);
  if (pool.generation != pool.state->generation() || now >= pool.refresh_at) rebuild(pool, now);
  const std::size_t n = pool.usable.size();
  if (n == 0) return npos;
  auto host_of = [&](std::size_t u) { return static_cast<std::size_t>(pool.usable[u]); };
  auto avoided = [&](std::size_t u) {
    return ctx.avoid && n > 1 && pool.hosts[pool.usable[u]].ep.get() == ctx.avoid;
  };
  switch (pool.state->config().load_balancer.policy) {
    case lb_policy::round_robin: {
      std::size_t u = pool.rr->next();
      if (avoided(u)) u = pool.rr->next();
      return host_of(u);
    }
    case lb_policy::random: {
      std::size_t u = weighted_draw(pool);
      for (int again = 0; again < 3 && avoided(u); ++again)
        u = weighted_draw(pool);
      return host_of(u);
    }
    case lb_policy::least_request: {
      // Power of two choices: two draws by weight, the one with fewer
      // requests in flight relative to its weight wins.
      std::size_t a = weighted_draw(pool), b = weighted_draw(pool);
      if (n > 1)
        for (int again = 0; again < 3 && b == a; ++again)
          b = weighted_draw(pool);
      if (avoided(a)) std::swap(a, b);
      if (avoided(b)) return host_of(a);
      const endpoint_state& ea = *pool.hosts[host_of(a)].ep;
      const endpoint_state& eb = *pool.hosts[host_of(b)].ep;
      const std::uint64_t la = ea.active.load(std::memory_order_relaxed);
      const std::uint64_t lb = eb.active.load(std::memory_order_relaxed);
      return host_of(lb * ea.weight < la * eb.weight ? b : a);
    }
    case lb_policy::ring_hash:
    case lb_policy::maglev: {
      std::size_t u = pool.hashing->pick(ctx.hash);
      if (avoided(u)) u = (u + 1) % n;
      return host_of(u);
    }
  }
  return npos;
}

const std::shared_ptr<endpoint_state>& connection_pool::endpoint(const snapshot& s, std::size_t c,
                                                                 std::size_t h) {
  return pool_for(s, c).hosts[h].ep;
}

std::unique_ptr<upstream_connection> connection_pool::take(const snapshot& s, std::size_t c,
                                                           std::size_t h,
                                                           steady_clock::time_point now) {
  auto& pool = pool_for(s, c);
  auto& stack = pool.hosts[h].idle;
  const auto idle_timeout = pool.state->config().idle_timeout;
  while (!stack.empty()) {
    std::unique_ptr<upstream_connection> conn = std::move(stack.back());
    stack.pop_back();
    // No peek when the reactor has seen nothing arrive since the last response
    // drained the socket: the upstream's close would have raised an event.
    // One that came since the loop last polled goes unnoticed, as it would in
    // nginx; the request then fails as on a connection closed while it was
    // sent, and an idempotent one is sent again on a fresh connection.
    if (now - conn->idle_since < idle_timeout &&
        (quiet_since_drained(conn->socket, conn->reads) || still_open(conn->socket)))
      return conn;
    boost::system::error_code ignored;
    conn->socket.close(ignored);
  }
  return nullptr;
}

std::unique_ptr<upstream_connection> connection_pool::fresh(const snapshot& s, std::size_t c,
                                                            std::size_t h) {
  auto& pool = pool_for(s, c);
  auto conn = std::make_unique<upstream_connection>(executor_, pool.state, pool.hosts[h].ep);
  conn->cluster_key = s.clusters[c].key;
  conn->slot = c;
  conn->host = h;
  return conn;
}

connection_pool::host_entry* connection_pool::find_host(upstream_connection& conn,
                                                        cluster_pool** owner) {
  cluster_pool* pool = nullptr;
  if (conn.slot < slots_.size() && slots_[conn.slot]->key == conn.cluster_key) {
    pool = slots_[conn.slot];
  } else if (auto it = pools_.find(conn.cluster_key); it != pools_.end()) {
    pool = it->second.get();
  }
  if (!pool || !pool->live) return nullptr;
  // The host list may have been rebuilt since the connection was made.
  std::size_t h = conn.host;
  if (h >= pool->hosts.size() || pool->hosts[h].ep != conn.endpoint) {
    h = npos;
    for (std::size_t i = 0; i < pool->hosts.size(); ++i)
      if (pool->hosts[i].ep == conn.endpoint) h = i;
    if (h == npos) return nullptr;  // the endpoint left the cluster
    conn.host = h;
  }
  if (owner) *owner = pool;
  return &pool->hosts[h];
}

void connection_pool::remember_session(upstream_connection& conn) {
  // Every new connection's, resumed ones too: a TLS 1.3 ticket is good for
  // one resumption, and each connection brings fresh ones.
  if (!conn.tls) return;
  tls::session s = conn.tls->take_session();
  if (!s.native()) return;
  if (host_entry* host = find_host(conn, nullptr)) host->session = std::move(s);
}

void connection_pool::give_back(std::unique_ptr<upstream_connection> conn,
                                steady_clock::time_point now) {
  cluster_pool* pool = nullptr;
  host_entry* host = find_host(*conn, &pool);
  if (!host) return;  // closes it
  const cluster_config& cfg = pool->state->config();
  if (cfg.max_requests_per_connection && conn->requests >= cfg.max_requests_per_connection) return;
  auto& stack = host->idle;
  if (stack.size() >= cfg.max_idle_per_endpoint) return;
  if (room_wanted_elsewhere(*pool)) {
    pool->state->idle_shed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  conn->idle_since = now;
  stack.push_back(std::move(conn));
}

connection_pool::host_entry::~host_entry() {
  for (auto& c : shared)
    if (c) c->retire();
}

std::shared_ptr<h2_connection> connection_pool::take_shared(const snapshot& s, std::size_t c,
                                                            std::size_t h) {
  auto& shared = pool_for(s, c).hosts[h].shared;
  std::erase_if(shared, [](const std::shared_ptr<h2_connection>& x) { return x->done(); });
  // The busiest connection with room: the others drain and go idle.
  h2_connection* best = nullptr;
  std::shared_ptr<h2_connection> out;
  for (auto& x : shared)
    if (x->has_room() && (!best || x->active() > best->active())) {
      best = x.get();
      out = x;
    }
  return out;
}

std::shared_ptr<h2_connection> connection_pool::share(const snapshot& s, std::size_t c,
                                                      std::size_t h,
                                                      std::unique_ptr<upstream_connection> conn) {
  cluster_pool& pool = pool_for(s, c);
  // Nothing comes back to the pool of an old snapshot: such a connection
  // closes after its one stream.
  const cluster_config& config = s.clusters[c].state->config();
  const std::uint32_t max_requests = pool.live ? config.max_requests_per_connection : 1;
  const bool tls = conn->tls != nullptr;
  auto x =
      std::make_shared<h2_connection>(std::move(conn), tls ? "https" : "http", max_requests,
                                      config.max_response_head, config.max_response_header_count);
  x->start();
  if (pool.live) pool.hosts[h].shared.push_back(x);
  return x;
}

bool connection_pool::make_room(const snapshot& s, std::size_t c, std::size_t h) {
  cluster_pool& pool = pool_for(s, c);
  const cluster_state& cs = *pool.state;
  const endpoint_state& ep = *pool.hosts[h].ep;
  if (connection_room(cs, ep)) return true;
  return cluster_connections_full(cs) && shed_idle(pool, 1) != 0 && connection_room(cs, ep);
}

bool connection_pool::room_wanted_elsewhere(const cluster_pool& pool) const noexcept {
  const cluster_state& cs = *pool.state;
  return cs.pending.load(std::memory_order_relaxed) != 0 && cluster_connections_full(cs) &&
         !waiting_.contains(&cs);
}

std::size_t connection_pool::shed_idle(cluster_pool& pool, std::size_t n) {
  std::size_t shed = 0;
  for (; shed < n; ++shed) {
    // Each host's idle stack has its longest idle connection first; an
    // HTTP/2 connection counts when it carries no stream.
    host_entry* oldest = nullptr;
    steady_clock::time_point since = steady_clock::time_point::max();
    bool h2 = false;
    std::size_t at = 0;
    for (auto& host : pool.hosts) {
      if (!host.idle.empty() && host.idle.front()->idle_since < since) {
        oldest = &host;
        since = host.idle.front()->idle_since;
        h2 = false;
      }
      for (std::size_t i = 0; i < host.shared.size(); ++i) {
        const auto& x = host.shared[i];
        if (!x->done() && x->active() == 0 && x->idle_since < since) {
          oldest = &host;
          since = x->idle_since;
          h2 = true;
          at = i;
        }
      }
    }
    if (!oldest) break;
    if (h2) {
      oldest->shared[at]->retire();  // its count drops once its reader has ended
      oldest->shared.erase(oldest->shared.begin() + static_cast<std::ptrdiff_t>(at));
    } else {
      oldest->idle.erase(oldest->idle.begin());
    }
  }
  pool.state->idle_shed.fetch_add(shed, std::memory_order_relaxed);
  return shed;
}

void connection_pool::sweep(steady_clock::time_point now) {
  for (auto& [key, pool] : pools_) {
    if (room_wanted_elsewhere(*pool))
      shed_idle(*pool, pool->state->pending.load(std::memory_order_relaxed));
    const auto idle_timeout = pool->state->config().idle_timeout;
    for (auto& host : pool->hosts) {
      std::erase_if(host.idle, [&](const std::unique_ptr<upstream_connection>& c) {
        return now - c->idle_since >= idle_timeout;
      });
      std::erase_if(host.shared, [&](const std::shared_ptr<h2_connection>& c) {
        if (c->done()) return true;
        if (c->active() > 0 || now - c->idle_since < idle_timeout) return false;
        c->retire();
        return true;
      });
    }
  }
}

void connection_pool::clear() {
  for (auto& [key, pool] : pools_)
    for (auto& host : pool->hosts) {
      host.idle.clear();
      for (auto& c : host.shared)
        c->retire();
      host.shared.clear();
    }
}

std::size_t connection_pool::idle_count() const noexcept {
  std::size_t n = 0;
  for (const auto& [key, pool] : pools_)
    for (const auto& host : pool->hosts) {
      n += host.idle.size();
      for (const auto& c : host.shared)
        n += !c->done() && c->active() == 0;
    }
  return n;
}

}  // namespace gateway
