#include "server/worker.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>

#include "asio/recv_buffer.hpp"
#include "asio/spawn.hpp"
#include "server/connection.hpp"

namespace gateway {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

worker::worker(server_shared& shared, unsigned index, asio::io_context* external)
    : shared_(shared),
      index_(index),
      own_(external ? nullptr
                    : std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
      context_(external ? external : own_.get()),
      pool_(context_->get_executor()),
      streams_(*this, context_->get_executor()),
      h2_parts_(context_->get_executor()),
      rng_(0x9E3779B97F4A7C15ULL * (index + 1) ^
           static_cast<std::uint64_t>(steady_clock::now().time_since_epoch().count())),
      sweep_timer_(*context_),
      // Idle work (WAF phases) waits at most 2 ms while other work is ready,
      // and other work at most 2 ms (and a task) while only WAF work is.
      idle_(*context_, std::chrono::milliseconds(2), std::chrono::milliseconds(2), &open_streams) {
  if (rng_ == 0) rng_ = 1;
}

worker::~worker() {
  join();
}

std::shared_ptr<listen_socket> open_listen_socket(asio::io_context& context, std::uint32_t group,
                                                  const tcp::endpoint& where) {
  tcp::acceptor acceptor(context);
  boost::system::error_code ec;
  acceptor.open(where.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(reuse_port(true), ec);
  if (!ec) acceptor.bind(where, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) count_unread(acceptor.native_handle());  // accepted sockets inherit it
  if (ec) {
    throw error(errc::bind_failed,
                fmt::format("cannot listen on {}:{}: {}", where.address().to_string(), where.port(),
                            ec.message()));
  }
  return std::make_shared<listen_socket>(group, std::move(acceptor));
}

void worker::add_listener(std::shared_ptr<listen_socket> socket) {
  listeners_.push_back(std::move(socket));
}

void worker::start() {
  current_snapshot();
  for (auto& l : listeners_)
    asio::co_spawn(*context_, accept_loop(l), asio::detached);
  asio::co_spawn(*context_, sweep_loop(), asio::detached);
  if (!own_) return;  // mounted: the host runs the loop
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(*context_);
    const idle_queue::scope in_loop(idle_);
    // The data plane reports errors as values; an exception here is a bug or
    // an allocation failure in one session. Its coroutine is gone by now, so
    // log it and keep serving every other connection of this worker.
    for (;;) {
      try {
        context_->run();
        return;
      } catch (const std::exception& e) {
        log().log(log_level::error, "worker {}: session ended by exception: {}", index_, e.what());
      } catch (...) {
        log().log(log_level::error, "worker {}: session ended by unknown exception", index_);
      }
    }
  });
}

const std::shared_ptr<const snapshot>& worker::current_snapshot() {
  std::uint64_t v = shared_.version.load(std::memory_order_acquire);
  if (v != snapshot_version_) {
    snapshot_ = shared_.current.load();
    snapshot_version_ = v;
    pool_.adopt(*snapshot_);
    if (stats_.size() < snapshot_->series_count) stats_.resize(snapshot_->series_count);
  }
  return snapshot_;
}

namespace {
// Counts a worker coroutine while it runs.
struct loop_count {
  std::atomic<int>& n;
  explicit loop_count(std::atomic<int>& c) : n(c) { n.fetch_add(1, std::memory_order_relaxed); }
  ~loop_count() { n.fetch_sub(1, std::memory_order_release); }
};
}  // namespace

asio::awaitable<void> worker::accept_loop(std::shared_ptr<listen_socket> listening) {
  loop_count counted(loops_);
  tcp::acceptor& acceptor = listening->acceptor;
  asio::steady_timer backoff(*context_);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of descriptors or memory: keep serving what is open and try again shortly.
      log().log(log_level::warn, "worker {}: accept failed: {}", index_, ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    if (draining_ || !acceptor.is_open()) co_return;
    // Limits are judged before anything is spent on the connection: it is
    // closed, not accepted into a queue where it would starve.
    if (overload() != overload_level::normal) {
      refuse(std::move(socket), limit_kind::overload_connections,
             "the process is overloaded (see the overload log line)", 0, {});
      // Until it recovers, new connections wait in the kernel's queue.
      while (overload() != overload_level::normal && acceptor.is_open() && !draining_) {
        backoff.expires_after(std::chrono::milliseconds(50));
        co_await backoff.async_wait(use_tuple);
      }
      continue;
    }
    const std::size_t worker_cap = shared_.max_connections_per_worker;
    if (worker_cap && open_connections >= worker_cap) {
      refuse(std::move(socket), limit_kind::worker_connections, "this worker's connection limit",
             worker_cap, {});
      continue;
    }
    std::shared_ptr<std::atomic<std::size_t>> group_open;
    if (const socket_group* g = current_snapshot()->find_group(listening->group); g && g->open) {
      if (g->open->fetch_add(1, std::memory_order_relaxed) >= g->max_connections &&
          g->max_connections) {
        g->open->fetch_sub(1, std::memory_order_relaxed);
        refuse(std::move(socket), limit_kind::listener_connections, g->key, g->max_connections,
               g->close_delay);
        continue;
      }
      group_open = g->open;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto conn = std::make_shared<connection>(*this, std::move(socket), listening->group,
                                             std::move(group_open));
    conn->start_watchdog();
    spawn(*context_, conn->run());
  }
}

namespace {
// Holds a refused connection for the listener's close delay, then closes it.
asio::awaitable<void> close_after(tcp::socket socket, std::chrono::milliseconds delay) {
  asio::steady_timer wait(socket.get_executor(), delay);
  co_await wait.async_wait(use_tuple);
  boost::system::error_code ignored;
  socket.close(ignored);
}
}  // namespace

void worker::refuse(tcp::socket socket, limit_kind why, std::string_view whose, std::size_t cap,
                    std::chrono::milliseconds delay) {
  count(why);
  // Under a flood this would be a line per connection: one per ten seconds
  // says it is happening, the metric says how often.
  const auto now = coarse_now();
  if (now - last_refusal_log_ >= std::chrono::seconds(10)) {
    last_refusal_log_ = now;
    if (cap)
      log().log(log_level::warn,
                "worker {}: refusing new connections ({}): {} at {}; see gateway_limit_hits_total",
                index_, limit_name(why), whose, cap);
    else
      log().log(log_level::warn,
                "worker {}: refusing new connections ({}): {}; see gateway_limit_hits_total",
                index_, limit_name(why), whose);
  }
  if (delay.count() > 0) {
    asio::co_spawn(*context_, close_after(std::move(socket), delay), asio::detached);
    return;
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

std::future<void> worker::reload(std::vector<std::uint32_t> closed,
                                 std::vector<std::uint32_t> removed,
                                 std::vector<std::shared_ptr<listen_socket>> opened) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> applied = done->get_future();
  asio::dispatch(*context_, [this, done, closed = std::move(closed), removed = std::move(removed),
                             opened = std::move(opened)] {
    struct signal {
      std::promise<void>& p;
      ~signal() { p.set_value(); }
    } when_done{*done};
    std::erase_if(listeners_, [&](const std::shared_ptr<listen_socket>& l) {
      if (std::find(closed.begin(), closed.end(), l->group) == closed.end()) return false;
      boost::system::error_code ignored;
      l->acceptor.close(ignored);  // its accept loop ends and lets go of it
      return true;
    });
    if (draining_) return;
    for (const auto& l : opened) {
      listeners_.push_back(l);
      asio::co_spawn(*context_, accept_loop(l), asio::detached);
    }
    current_snapshot();  // pools follow the new config now, not at the next request
    for (worker_session* c = connections_; c; c = c->next)
      if (std::find(removed.begin(), removed.end(), c->group()) != removed.end())
        c->interrupt(false);
  });
  return applied;
}

asio::awaitable<void> worker::sweep_loop() {
  loop_count counted(loops_);
  while (!draining_) {
    sweep_timer_.expires_after(std::chrono::milliseconds(250));
    co_await sweep_timer_.async_wait(use_tuple);
    pool_.sweep(coarse_now());
    flush_access_log();
    // Shedding: connections waiting for a request go (HTTP/2 ones get a
    // GOAWAY), and so do idle upstream connections; requests under way finish.
    const overload_level level = overload();
    if (level == overload_level::shedding && overload_seen_ != level) {
      pool_.clear();
      for (worker_session* c = connections_; c; c = c->next)
        c->interrupt(false);
    }
    overload_seen_ = level;
  }
}

void worker::log_request(const access_record& r) {
  constexpr std::size_t batch_size = 16 * 1024;
  shared_.access_format->append(r, log_batch_);
  if (log_batch_.size() >= batch_size) flush_access_log();
}

void worker::flush_access_log() {
  if (log_batch_.empty() || !shared_.access_log) return;
  std::string batch;
  batch.reserve(log_batch_.capacity());
  batch.swap(log_batch_);
  shared_.access_log->submit(std::move(batch));
}

worker_report worker::report() const {
  worker_report r;
  r.series = stats_;
  r.counters = counters_;
  r.filter_counts = filter_counts_;
  // Gauges, and counters their owners keep, as they are now.
  using metrics::slot;
  r.counters.set(slot("gateway_upstream_connections", "active"), upstream_active);
  r.counters.set(slot("gateway_upstream_connections", "idle"), pool_.idle_count());
  r.counters.set(slot("gateway_downstream_streams"), open_streams);
  buffer_bytes buffers;
  for (const worker_session* c = connections_; c; c = c->next)
    c->count_buffers(buffers);
  buffers.pooled = streams_.buffers() + blocks_.held() + h2_parts_.bytes();
  r.counters.set(slot("gateway_buffer_bytes", "client"), buffers.client);
  r.counters.set(slot("gateway_buffer_bytes", "upstream"), buffers.upstream);
  r.counters.set(slot("gateway_buffer_bytes", "pooled"), buffers.pooled);
  r.counters.set(slot("gateway_tracing_spans_total", "recorded"), spans_.recorded);
  r.counters.set(slot("gateway_tracing_spans_total", "dropped"), spans_.dropped);
  return r;
}

std::size_t worker::take_spans(std::string& out) {
  const std::size_t n = spans_.pending;
  if (n == 0) return 0;
  out.assign(spans_.json);
  spans_.json.clear();
  spans_.pending = 0;
  return n;
}

void worker::begin_drain() {
  asio::post(*context_, [this] {
    draining_ = true;
    for (auto& l : listeners_) {
      boost::system::error_code ignored;
      l->acceptor.close(ignored);
    }
    sweep_timer_.cancel();
    pool_.clear();
    for (worker_session* c = connections_; c; c = c->next)
      c->interrupt(false);
  });
}

void worker::close_all() {
  asio::post(*context_, [this] {
    for (worker_session* c = connections_; c; c = c->next)
      c->interrupt(true);
  });
}

void worker::join() {
  if (!own_) {
    // Mounted: the host's loop finishes the coroutines; they must be gone
    // before this worker is (their frames refer to it).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while ((loops() > 0 || shared_.connections.load(std::memory_order_acquire) > 0) &&
           std::chrono::steady_clock::now() < until && !context_->stopped())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    flush_access_log();
    return;
  }
  if (!thread_.joinable()) return;
  context_->stop();
  thread_.join();
  flush_access_log();  // the thread is gone: what it batched last is written now
}

void worker::attach(worker_session* c) noexcept {
  c->next = connections_;
  if (connections_) connections_->prev = c;
  connections_ = c;
  shared_.connections.fetch_add(1, std::memory_order_relaxed);
}

void worker::detach(worker_session* c) noexcept {
  if (c->prev)
    c->prev->next = c->next;
  else
    connections_ = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  shared_.connections.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace gateway
