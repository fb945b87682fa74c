#include "filters/global_ratelimit/redis_client.hpp"
#include "filters/global_ratelimit/redis_reply.hpp"

#include <array>
#include <deque>
#include <optional>

#include <boost/asio/connect.hpp>

#include "asio/asio.hpp"
#include "filters/background.hpp"
#include "tls/upstream_tls.hpp"

namespace gateway::filters {

namespace {
// A batch of commands waiting for its answers, in the order they were sent.
struct batch {
  redis_client::callback done;
  std::size_t replies_left = 0;  // two per key (INCR, EXPIRE)
  std::vector<std::int64_t> counts;
  bool failed = false;
  bool auth = false;  // the connection's AUTH: one reply, +OK or an error
  steady_clock::time_point deadline;
};

void append_bulk(std::string& out, std::string_view s) {
  out.push_back('$');
  out.append(std::to_string(s.size()));
  out.append("\r\n");
  out.append(s);
  out.append("\r\n");
}
}  // namespace

struct redis_client::state : std::enable_shared_from_this<state> {
  explicit state(options o)
      : opts(std::move(o)), io(executor_of(*opts.services)), socket(io), resolver(io), timer(io) {}

  options opts;
  asio::any_io_executor io;  // the background's: every client shares its thread
  tcp::socket socket;
  tcp::resolver resolver;
  // The connection's TLS, when configured. Shared with the coroutines using
  // it: a dropped connection's may still be inside a read or write.
  std::shared_ptr<tls::stream> secure;
  asio::steady_timer timer;  // the oldest batch's deadline
  bool connected = false, connecting = false, writing = false;
  steady_clock::time_point down_until{};  // after a failed connect, fail fast until then
  std::string out, sending, in;
  std::array<char, 4096> buffer;  // reads land here (kept out of the coroutine frame)
  std::deque<batch> pending;      // sent, or queued in `out`, in order
  std::uint64_t generation = 0;   // bumped when the connection is dropped

  void submit(std::vector<std::pair<std::string, std::int64_t>> keys, callback done) {
    const auto now = steady_clock::now();
    if (!connected && now < down_until) {
      done(std::make_error_code(std::errc::connection_refused), {});
      return;
    }
    for (const auto& [key, ttl] : keys) {
      out.append("*2\r\n$4\r\nINCR\r\n");
      append_bulk(out, key);
      out.append("*4\r\n$6\r\nEXPIRE\r\n");
      append_bulk(out, key);
      append_bulk(out, std::to_string(ttl));
      out.append("$2\r\nNX\r\n");
    }
    batch b;
    b.done = std::move(done);
    b.replies_left = keys.size() * 2;
    b.deadline = now + opts.timeout;
    pending.push_back(std::move(b));
    if (pending.size() == 1) arm_timer();
    if (!connected && !connecting)
      asio::co_spawn(io, connect(), asio::detached);
    else if (connected && !writing)
      asio::co_spawn(io, write(), asio::detached);
  }

  void arm_timer() {
    if (pending.empty()) return;
    timer.expires_at(pending.front().deadline);
    timer.async_wait([self = shared_from_this(), g = generation](boost::system::error_code ec) {
      if (ec || g != self->generation || self->pending.empty()) return;
      if (steady_clock::now() >= self->pending.front().deadline)
        self->drop(std::make_error_code(std::errc::timed_out));  // stuck: start over
      else
        self->arm_timer();
    });
  }

  // Fails every batch with `why` and closes the connection.
  void drop(std::error_code why) {
    ++generation;
    // A connect or a lookup that outlived the batches waiting on it: new
    // ones fail fast for a while rather than start another behind it.
    if (connecting)
      down_until = steady_clock::now() + std::min(opts.timeout, std::chrono::milliseconds(500));
    boost::system::error_code ignored;
    socket.close(ignored);
    secure.reset();
    resolver.cancel();
    timer.cancel();
    connected = connecting = writing = false;
    out.clear();
    in.clear();
    auto failed = std::move(pending);
    pending.clear();
    for (batch& b : failed)
      b.done(why, {});
  }

  asio::awaitable<void> connect() {
    auto self = shared_from_this();
    connecting = true;
    const std::uint64_t g = generation;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(opts.host, ec);
    // Bounded by the batches' deadlines (the timer drops the attempt).
    if (!ec) {
      socket = tcp::socket(io);
      auto [e] = co_await socket.async_connect(tcp::endpoint(address, opts.port), use_tuple);
      ec = e;
    } else {
      // A name (a Service's, in a cluster) is looked up at each connect, so
      // a move is followed; each address it has is tried in turn.
      auto [re, found] =
          co_await resolver.async_resolve(opts.host, std::to_string(opts.port), use_tuple);
      ec = re;
      if (!ec && g == generation) {
        socket = tcp::socket(io);
        auto [e, used] = co_await asio::async_connect(socket, found, use_tuple);
        ec = e;
      }
    }
    if (!ec && g == generation && opts.tls) {
      boost::system::error_code peer;
      const auto address = socket.remote_endpoint(peer).address();
      auto s = std::make_shared<tls::stream>(*opts.tls, socket, opts.host, address);
      secure = s;
      ec = co_await s->handshake();
    }
    if (g != generation) co_return;  // timed out meanwhile
    connecting = false;
    if (ec) {
      down_until = steady_clock::now() + std::min(opts.timeout, std::chrono::milliseconds(500));
      drop(std::make_error_code(std::errc::connection_refused));
      co_return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    connected = true;
    if (!opts.password.empty()) {
      // Ahead of whatever waits in `out`: every command on this connection
      // comes after it.
      std::string auth = opts.username.empty() ? "*2\r\n$4\r\nAUTH\r\n" : "*3\r\n$4\r\nAUTH\r\n";
      if (!opts.username.empty()) append_bulk(auth, opts.username);
      append_bulk(auth, opts.password);
      out.insert(0, auth);
      batch b;
      b.auth = true;
      b.replies_left = 1;
      b.deadline = steady_clock::now() + opts.timeout;
      pending.push_front(std::move(b));
      timer.cancel();
      arm_timer();
    }
    asio::co_spawn(io, read(g), asio::detached);
    if (!out.empty()) asio::co_spawn(io, write(), asio::detached);
  }

  asio::awaitable<void> write() {
    auto self = shared_from_this();
    writing = true;
    const std::uint64_t g = generation;
    while (!out.empty() && g == generation) {
      sending.swap(out);
      out.clear();
      boost::system::error_code ec;
      if (auto s = secure) {
        const asio::const_buffer piece = asio::buffer(sending);
        auto [e, n] = co_await s->write(std::span(&piece, 1));
        ec = e;
      } else {
        auto [e, n] = co_await asio::async_write(socket, asio::buffer(sending), use_tuple);
        ec = e;
      }
      if (g != generation) co_return;
      if (ec) {
        drop(std::make_error_code(std::errc::connection_reset));
        co_return;
      }
    }
    writing = false;
  }

  asio::awaitable<void> read(std::uint64_t g) {
    auto self = shared_from_this();
    const std::shared_ptr<tls::stream> s = secure;
    while (g == generation) {
      auto [ec, n] = s ? co_await s->read_some(asio::buffer(buffer))
                       : co_await socket.async_read_some(asio::buffer(buffer), use_tuple);
      if (g != generation) co_return;
      if (ec) {
        drop(std::make_error_code(std::errc::connection_reset));
        co_return;
      }
      in.append(buffer.data(), n);
      std::size_t used = 0;
      for (;;) {
        std::int64_t value = 0;
        bool error = false;
        std::size_t m = parse_redis_reply(std::string_view(in).substr(used), value, error);
        if (m == 0) break;
        if (m == std::string_view::npos || pending.empty()) {
          drop(std::make_error_code(std::errc::protocol_error));
          co_return;
        }
        used += m;
        batch& b = pending.front();
        if (b.auth) {
          pending.pop_front();
          if (error) {  // a wrong password, or an ACL user that is off
            down_until =
                steady_clock::now() + std::min(opts.timeout, std::chrono::milliseconds(500));
            drop(std::make_error_code(std::errc::permission_denied));
            co_return;
          }
          timer.cancel();
          arm_timer();
          continue;
        }
        // Replies alternate: INCR's count, then EXPIRE's 0/1.
        if (b.replies_left % 2 == 0) {
          b.failed = b.failed || error;
          b.counts.push_back(value);
        }
        if (--b.replies_left == 0) {
          batch done = std::move(b);
          pending.pop_front();
          if (done.failed)
            done.done(std::make_error_code(std::errc::protocol_error), {});
          else
            done.done({}, done.counts);
          timer.cancel();
          arm_timer();
        }
      }
      in.erase(0, used);
    }
  }
};

redis_client::redis_client(options o) : state_(std::make_shared<state>(std::move(o))) {}

redis_client::~redis_client() {
  // Closing the connection ends its coroutines on the background thread;
  // each holds the state, the last frees it. Not waited for: this may run
  // on that thread itself.
  asio::post(state_->io,
             [s = state_] { s->drop(std::make_error_code(std::errc::operation_canceled)); });
}

void redis_client::count(std::vector<std::pair<std::string, std::int64_t>> keys, callback done) {
  asio::post(state_->io, [s = state_, keys = std::move(keys), done = std::move(done)]() mutable {
    s->submit(std::move(keys), std::move(done));
  });
}

}  // namespace gateway::filters
