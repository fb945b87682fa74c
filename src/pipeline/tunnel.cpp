// Byte tunnels: a stream turned into one by an Upgrade (WebSocket over
// HTTP/1.1: after the upstream's 101 goes to the client), or a whole
// connection of a TCPRoute or TLSRoute. Bytes move both ways unread until
// both directions have ended, or nothing moves for the listener's stream
// idle timeout (the stream's watchdog ends both sides then).
#include "stream/byte_pipe.hpp"
#include "stream/stream.hpp"
#include "upstream/h1_link.hpp"

namespace gateway {
namespace {

constexpr std::size_t tunnel_buffer = 16 * 1024;

// Moves what `from` sends (what came early first) to `to` until a read or
// a write fails; adds the bytes to `counted` when given. Each move re-arms
// the idle deadline. True when `from` ended cleanly (its FIN), with all it
// sent written.
asio::awaitable<bool> pump(byte_pipe& from, byte_pipe& to, char* buffer, transport::watchdog& watch,
                           std::chrono::milliseconds idle, std::uint64_t* counted) {
  std::vector<asio::const_buffer> gather;
  if (const std::string_view early = from.leftover(); !early.empty()) {
    gather.emplace_back(early.data(), early.size());
    if (counted) *counted += early.size();
    const bool ok = co_await to.write(gather);
    from.drop_leftover();
    if (!ok) co_return false;
  }
  for (;;) {
    auto [ec, n] = co_await from.read_some(asio::buffer(buffer, tunnel_buffer));
    if (n) {
      watch.arm(transport::deadline_phase::stream, idle);
      if (counted) *counted += n;
      gather.emplace_back(buffer, n);
      if (!co_await to.write(gather)) co_return false;
    }
    if (ec) co_return ec == asio::error::eof;
  }
}

}  // namespace

asio::awaitable<void> stream::tunnel(h1_link& up) {
  start_response(false);
  // HTTP/2 (RFC 8441): the client's extended CONNECT is answered 200.
  record_.status = request_.version_major == 2 ? 200 : 101;
  byte_pipe* client = down_->pipe();
  if (!client || !co_await down_->send(false)) co_return;
  co_await carry_bytes(*client, up.begin_tunnel(response_), rule_->max_stream_duration);
}

asio::awaitable<void> stream::carry_bytes(byte_pipe& client, byte_pipe& upstream,
                                          std::chrono::milliseconds max_duration) {
  const std::chrono::milliseconds idle = listener_->config.limits.stream_idle_timeout;
  watch_->arm(transport::deadline_phase::stream, idle);
  // A tunnel's whole life is bounded apart from its idle time: the limit
  // ends both sides, as the idle timeout does.
  // A completion already queued when the tunnel ends finds `open` false.
  asio::steady_timer limit(executor_);
  std::shared_ptr<bool> open;
  if (max_duration.count() > 0) {
    open = std::make_shared<bool>(true);
    limit.expires_after(max_duration);
    limit.async_wait([&client, &upstream, open](boost::system::error_code ec) {
      if (ec || !*open) return;
      client.shut();
      upstream.shut();
    });
  }
  auto buffers = std::make_unique<char[]>(2 * tunnel_buffer);
  // Upstream to client in a coroutine of its own, client to upstream here.
  // A side that ended cleanly is passed on as a half-close (the other
  // direction goes on); anything else ends both.
  bool down_done = false;
  asio::steady_timer ended(executor_);
  ended.expires_at(steady_clock::time_point::max());
  asio::co_spawn(executor_,
                 pump(upstream, client, buffers.get() + tunnel_buffer, *watch_, idle, nullptr),
                 [&](std::exception_ptr, bool clean) {
                   down_done = true;
                   if (!clean || !client.shut_write()) {
                     client.shut();
                     upstream.shut();
                   }
                   ended.cancel();
                 });
  const bool clean = co_await pump(client, upstream, buffers.get(), *watch_, idle,
                                   client.counts_reads() ? nullptr : &record_.bytes_in);
  if (!clean || !upstream.shut_write()) {
    client.shut();
    upstream.shut();
  }
  while (!down_done)
    co_await ended.async_wait(use_tuple);
  if (open) {
    *open = false;
    limit.cancel();
  }
  // Both directions ended cleanly: the connections close with the stream.
  watch_->disarm();
}

}  // namespace gateway
