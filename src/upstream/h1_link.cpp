// HTTP/1.1 to an upstream: the request head as the pipeline wrote it, the
// body as it comes (chunk-framed when its length is unknown), and the
// response parsed from the connection's buffer. Body data is relayed as
// views of that buffer, so memory stays flat whatever the body's size.
#include "upstream/h1_link.hpp"

#include "server/snapshot.hpp"
#include "transport/client_stream.hpp"

namespace gateway {

namespace {
// Until a request is proxied, the buffer is small; a try grows it to its room.
constexpr std::size_t initial_buffer = 4 * 1024;
// Room for a typical response (head and a body of tens of KiB) in one read, so
// it also leaves in one write: fewer syscalls and wake-ups than 16 KiB slices.
constexpr std::size_t try_buffer = 64 * 1024;
}  // namespace

h1_link::h1_link(transport::watchdog& watch) : watch_(&watch), in_(initial_buffer) {}

bool h1_link::take_pooled(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
                          steady_clock::time_point now, bool replay) {
  // A replay goes on a fresh connection: the pooled one it was on just
  // failed, and others as old may have been closed the same way.
  conn_ = replay ? nullptr : pool.take(s, c, h, now);
  use_limits(s.clusters[c].config);
  return conn_ != nullptr;
}

void h1_link::attach(connection_pool&, const snapshot& s, std::size_t c, std::size_t,
                     std::unique_ptr<upstream_connection> conn) {
  conn_ = std::move(conn);
  use_limits(s.clusters[c].config);
}

void h1_link::use_limits(const cluster_config& c) noexcept {
  max_head_ = c.max_response_head;
  max_fields_ = c.max_response_header_count;
  read_ahead_ = c.buffer_limit;
}

bool h1_link::begin(const request& r) {
  in_.clear();
  in_.reserve(std::min(try_buffer, read_ahead_));
  head_ = r.http1_head;
  idle_ = r.idle;
  chunked_request_ = r.has_body && r.chunked;
  upgrade_ = r.upgrade;
  responded_ = false;
  over_limit_ = false;
  head_used_ = 0;
  scanner_.reset();
  framing_ = framing::none;
  used_ = 0;
  ended_ = false;
  ++conn_->requests;
  return true;
}

asio::awaitable<bool> h1_link::send(std::span<const asio::const_buffer> pieces, std::uint64_t bytes,
                                    bool end, std::span<const http::header> trailers) {
  // Not a coroutine: the write costs the frame of the one it hands over.
  gather_.clear();
  if (!head_.empty()) {
    gather_.emplace_back(head_.data(), head_.size());
    head_ = {};
  }
  if (chunked_request_) {
    framer_.chunk(pieces, bytes, gather_);
    if (end) framer_.end(trailers, gather_);
  } else {
    // A body of known length has no place for trailers in HTTP/1.1.
    gather_.insert(gather_.end(), pieces.begin(), pieces.end());
  }
  if (conn_->tls) return write_tls();
  return transport::write_gather(conn_->socket, conn_->reads, gather_, *watch_, idle_, nullptr,
                                 transport::deadline_phase::stream);
}

byte_pipe& h1_link::begin_tunnel(const http1::response_head& head) noexcept {
  in_.consume(head.head_size);
  keep_alive_ = false;
  return *this;
}

byte_pipe& h1_link::begin_bytes(std::chrono::milliseconds idle) noexcept {
  in_.clear();
  idle_ = idle;
  keep_alive_ = false;
  return *this;
}

bool h1_link::shut_write() noexcept {
  if (!conn_ || conn_->tls) return false;
  boost::system::error_code ec;
  conn_->socket.shutdown(tcp::socket::shutdown_send, ec);
  return !ec;
}

asio::awaitable<bool> h1_link::write(std::vector<asio::const_buffer>& gather) {
  if (conn_->tls) {
    auto [ec, n] = co_await conn_->tls->write(gather);
    gather.clear();
    co_return !ec;
  }
  co_return co_await transport::write_gather(conn_->socket, conn_->reads, gather, *watch_, idle_,
                                             nullptr, transport::deadline_phase::stream);
}

asio::awaitable<bool> h1_link::write_tls() {
  auto [ec, n] = co_await conn_->tls->write(gather_);
  gather_.clear();
  co_return !ec;
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> h1_link::read_some(
    asio::mutable_buffer into) {
  // Not a coroutine: plain TCP reads cost no extra frame.
  if (conn_->tls) return conn_->tls->read_some(into);
  return recv_some(conn_->socket, into, conn_->reads);
}

asio::awaitable<upstream_link::head_result> h1_link::read_head(http1::response_head& into) {
  if (head_used_) {  // the interim head returned last time
    in_.consume(head_used_);
    head_used_ = 0;
    scanner_.reset();
  }
  for (;;) {
    if (!in_.empty()) {
      if (const std::size_t end = scanner_.find_end(in_.view())) {
        responded_ = true;
        if (end > max_head_) {
          over_limit_ = true;
          co_return head_result::invalid;
        }
        if (const int refused =
                http1::parse_response_head(in_.view().substr(0, end), into, max_fields_)) {
          over_limit_ = refused == 431;
          co_return head_result::invalid;
        }
        if (into.status >= 200) co_return head_result::final;
        // A 101 is the answer only to an Upgrade that was forwarded.
        if (into.status == 101) co_return upgrade_ ? head_result::final : head_result::invalid;
        head_used_ = end;
        co_return head_result::interim;
      }
      if (in_.size() > max_head_ || scanner_.bare_lf()) {
        over_limit_ = !scanner_.bare_lf();
        co_return head_result::invalid;
      }
    }
    std::size_t room = 0;
    char* dst = in_.prepare(room, max_head_ + 1024);
    auto [ec, n] = co_await read_some(asio::buffer(dst, room));
    if (ec) co_return head_result::failed;
    in_.commit(n);
    responded_ = true;
  }
}

void h1_link::start_body(const http1::response_head& head, bool bodyless) {
  in_.consume(head.head_size);  // the head's views stay valid until the buffer is compacted
  framing_ = bodyless                  ? framing::none
             : head.chunked            ? framing::chunked
             : head.has_content_length ? framing::length
                                       : framing::until_close;
  left_ = head.content_length;
  keep_alive_ = framing_ != framing::until_close && head.wants_keep_alive();
  if (framing_ == framing::chunked) chunks_.reset();
  used_ = 0;
  eof_ = false;
  ended_ = false;
}

upstream_link::body_step h1_link::take(std::vector<asio::const_buffer>& out) {
  in_.consume(used_);
  used_ = 0;
  body_step s;
  switch (framing_) {
    case framing::none:
      s.end = true;
      break;
    case framing::length: {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in_.size()));
      if (n) out.emplace_back(in_.view().data(), n);
      used_ = n;
      left_ -= n;
      s.bytes = n;
      s.end = left_ == 0;
      break;
    }
    case framing::chunked: {
      const http1::rechunk_result r = http1::rechunk(chunks_, in_.view(), out);
      if (r.error) {
        s.error = true;
        return s;
      }
      used_ = r.used;
      s.bytes = r.data_bytes;
      s.end = r.done;
      break;
    }
    case framing::until_close:
      used_ = in_.size();
      if (used_) out.emplace_back(in_.view().data(), used_);
      s.bytes = used_;
      s.end = eof_;
      break;
  }
  if (s.end) {
    ended_ = true;
    if (in_.size() > used_) keep_alive_ = false;  // bytes after the body: out of step
  }
  return s;
}

asio::awaitable<bool> h1_link::fill() {
  in_.consume(used_);
  used_ = 0;
  std::size_t room = 0;
  char* dst = in_.prepare(room, read_ahead_);
  room = std::min(room, read_ahead_);  // the buffer may be larger (the head's)
  watch_->arm(transport::deadline_phase::stream, idle_);
  auto [ec, n] = co_await read_some(asio::buffer(dst, room));
  if (ec) {
    if (framing_ != framing::until_close || ec != asio::error::eof) co_return false;
    eof_ = true;  // the close ends the body
    co_return true;
  }
  in_.commit(n);
  co_return true;
}

void h1_link::finish(connection_pool& pool, bool keep) noexcept {
  if (conn_ && keep && ended_ && keep_alive_) pool.give_back(std::move(conn_), coarse_now());
  conn_.reset();
  in_.clear();
  used_ = 0;
  head_ = {};
}

void h1_link::interrupt() noexcept {
  boost::system::error_code ignored;
  if (conn_) conn_->socket.cancel(ignored);
}

void h1_link::close() noexcept {
  boost::system::error_code ignored;
  if (conn_) conn_->socket.close(ignored);
}

}  // namespace gateway
