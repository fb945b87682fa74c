// An HTTP/1.1 client connection: the TLS handshake, reading and checking
// request heads, deadlines, keep-alive and the way it ends. What a request
// does once its head is parsed is its stream's (src/pipeline).
#include "server/connection.hpp"

#include <arpa/inet.h>

#include <charconv>

#include <cstring>

#include "server/worker.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
constexpr std::size_t initial_buffer = 16 * 1024;
}  // namespace

connection::connection(worker& owner, tcp::socket socket, std::uint32_t group)
    : worker_(owner),
      client_(std::move(socket)),
      watch_(client_.executor()),
      group_(group),
      in_(initial_buffer),
      stream_(*this) {
  worker_.attach(this);
  boost::system::error_code ec;
  auto peer = client_.remote(ec);
  std::string ip = ec ? std::string("unknown") : peer.address().to_string();
  client_ip_len_ = std::min(ip.size(), sizeof client_ip_);
  std::memcpy(client_ip_, ip.data(), client_ip_len_);
  if (!ec) client_port_ = peer.port();
}

connection::~connection() {
  worker_.detach(this);
}

void connection::close() noexcept {
  open_ = false;
  boost::system::error_code ignored;
  watch_.stop();
  stream_.close_upstream();
  client_.close(force_closed_);
}

void connection::interrupt(bool force) noexcept {
  if (force) {
    force_closed_ = true;
    client_.cancel();
    stream_.interrupt();
  } else if (watch_.phase() == transport::deadline_phase::idle ||
             watch_.phase() == transport::deadline_phase::handshake) {
    client_.cancel();
  }
  // Active requests see worker.draining() when they finish and close then.
}

asio::awaitable<void> connection::watchdog() {
  auto self = shared_from_this();
  while (co_await watch_.next_expiry()) {
    client_.cancel();
    stream_.interrupt();
  }
}

asio::awaitable<void> connection::run() {
  auto self = shared_from_this();
  if (!co_await start_tls()) open_ = false;
  while (open_ && !force_closed_) {
    if (!co_await read_request_head()) {
      stream_.finish();  // a head that was refused (400, 408, 414, 431) still counts
      break;
    }
    bool keep = co_await stream_.serve();
    stream_.finish();
    if (!keep || worker_.draining() || force_closed_) break;
  }
  if (linger_ && open_ && !force_closed_) {
    std::size_t room = 0;
    in_.clear();
    char* scratch = in_.prepare(room, in_.capacity());
    co_await client_.linger(watch_, asio::buffer(scratch, room));
    in_.clear();
  }
  close();
}

bool connection::refresh_snapshot() {
  const auto& snap = worker_.current_snapshot();
  if (snapshot_ == snap) return true;
  const socket_group* g = snap->find_group(group_);
  if (!g) {
    group_gone_ = true;  // requests already sent are served on the old config, then it closes
    return false;
  }
  snapshot_ = snap;
  group_rt_ = g;
  listener_rt_ = &snap->listeners[g->members.front()];
  return true;
}

asio::awaitable<bool> connection::start_tls() {
  if (!refresh_snapshot()) co_return false;
  const std::shared_ptr<const tls::server_context> context = group_rt_->tls;
  if (!context) co_return true;
  handshake_counters& counted = worker_.handshakes();
  if (worker_.pending_handshakes >= context->max_pending_handshakes()) {
    ++counted.refused;
    co_return false;
  }
  ++worker_.pending_handshakes;
  watch_.arm(transport::deadline_phase::handshake, context->handshake_timeout());
  const boost::system::error_code ec = co_await client_.handshake(context);
  --worker_.pending_handshakes;
  const bool timed_out = watch_.expired();
  watch_.disarm();
  if (ec) {
    ++(timed_out ? counted.timed_out : counted.failed);
    if (worker_.log().enabled(log_level::debug))
      worker_.log().log(log_level::debug, "TLS handshake from ",
                        std::string_view(client_ip_, client_ip_len_), ":", client_port_,
                        timed_out ? " timed out" : " failed: " + client_.tls()->why(ec));
    co_return false;
  }
  ++counted.ok;
  if (client_.tls()->info().resumed) ++counted.resumed;
  tls_validation_ = context->validation_id(client_.tls()->listener());
  co_return true;
}

asio::awaitable<bool> connection::flush_client(std::vector<asio::const_buffer>& gather) {
  return client_.write(gather, watch_, listener_rt_->config.limits.stream_idle_timeout,
                       stream_.record().bytes_out);
}

asio::awaitable<bool> connection::read_request_head() {
  // The limits for reading the head come from the config current now; the
  // request itself is served by the config current when its head is complete,
  // so a keep-alive connection idle across a reload uses the new one.
  if (!refresh_snapshot() && (!snapshot_ || in_.empty())) co_return false;
  const listener_limits limits = listener_rt_->config.limits;  // a copy: the snapshot may change
  stream_.record().series = listener_rt_->unrouted_series;
  const http1::head_limits head_limits{limits.max_request_line, limits.max_request_head,
                                       limits.max_header_count};
  scanner_.reset();
  bool started = false;
  for (;;) {
    // RFC 9112 §2.2: ignore empty lines before a request line.
    std::string_view pending = in_.view();
    std::size_t blank = 0;
    while (blank + 1 < pending.size() && pending[blank] == '\r' && pending[blank + 1] == '\n')
      blank += 2;
    if (blank) {
      in_.consume(blank);
      scanner_.reset();
      pending = in_.view();
    }
    if (!pending.empty()) {
      if (stream_.record().start == steady_clock::time_point{})
        stream_.record().start = steady_clock::now();
      if (std::size_t end = scanner_.find_end(pending)) {
        refresh_snapshot();
        int status =
            http1::parse_request_head(pending.substr(0, end), stream_.request(), head_limits);
        if (status) {
          stream_.forget_request();
          co_await stream_.local_reply(status, http::reason_phrase(status), true);
          co_return false;
        }
        co_return true;
      }
      if (int status =
              scanner_.bare_lf() ? 400 : http1::incomplete_request_status(pending, head_limits)) {
        stream_.forget_request();
        co_await stream_.local_reply(status, http::reason_phrase(status), true);
        co_return false;
      }
      if (!started) {
        started = true;
        watch_.arm(transport::deadline_phase::head, limits.header_timeout);
      }
    } else if (!started) {
      if (worker_.draining()) co_return false;
      watch_.arm(transport::deadline_phase::idle, limits.idle_timeout);
    }
    std::size_t room = 0;
    char* dst = in_.prepare(room, limits.max_request_head + 2 * 1024);
    if (room == 0) {
      stream_.forget_request();
      co_await stream_.local_reply(431, "Request Header Fields Too Large", true);
      co_return false;
    }
    auto [ec, n] = co_await client_.read_some(asio::buffer(dst, room));
    stream_.record().bytes_in += n;
    if (ec) {
      if (watch_.expired() && watch_.phase() == transport::deadline_phase::head) {
        stream_.forget_request();
        co_await stream_.local_reply(408, "Request Timeout", true);
      }
      co_return false;
    }
    in_.commit(n);
  }
}

void connection::learn_local_address() noexcept {
  if (local_ip_len_ != 0) return;
  boost::system::error_code ec;
  auto local = client_.local(ec);
  if (!ec && local.address().is_v4()) {
    ::inet_ntop(AF_INET, local.address().to_v4().to_bytes().data(), local_ip_, sizeof local_ip_);
  } else if (!ec) {
    ::inet_ntop(AF_INET6, local.address().to_v6().to_bytes().data(), local_ip_, sizeof local_ip_);
  }
  local_ip_len_ = ec ? 0 : std::strlen(local_ip_);
  local_port_ = ec ? 0 : local.port();
}

}  // namespace gateway
