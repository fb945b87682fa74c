// An HTTP/1.1 client connection: the TLS handshake, reading and checking
// request heads, deadlines, keep-alive and the way it ends. What a request
// does once its head is parsed is its stream's (src/pipeline).
#include "server/connection.hpp"

#include <arpa/inet.h>

#include <charconv>

#include <cstring>

#include "http2/server_codec.hpp"
#include "server/h2_session.hpp"
#include "server/worker.hpp"
#include "tls/client_hello.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
// A body this small is copied behind the response head rather than sent as a
// piece of its own: copying it costs less than sendmsg() over send().
constexpr std::uint64_t small_body = 1024;
}  // namespace

connection::connection(worker& owner, tcp::socket socket, std::uint32_t group,
                       std::shared_ptr<std::atomic<std::size_t>> group_open)
    : worker_(owner),
      client_(std::move(socket)),
      watch_(client_.executor()),
      group_(group),
      group_open_(std::move(group_open)) {
  worker_.attach(this);
  ++worker_.open_connections;
  boost::system::error_code ec;
  auto peer = client_.remote(ec);
  std::string ip = ec ? std::string("unknown") : peer.address().to_string();
  const std::size_t ip_len = std::min(ip.size(), sizeof client_ip_);
  std::memcpy(client_ip_, ip.data(), ip_len);
  client_ip = std::string_view(client_ip_, ip_len);
  if (!ec) client_port = peer.port();
  protocol = "HTTP/1.1"sv;
}

connection::~connection() {
  h2_.reset();
  in_.clear();  // what is left unread is dropped with the connection
  release_input();
  --worker_.open_connections;
  if (group_open_) group_open_->fetch_sub(1, std::memory_order_relaxed);
  worker_.detach(this);
}

void connection::close() noexcept {
  closed = true;
  watch_.stop();
  if (stream_) stream_->close_upstream();
  client_.close(forced);
}

void connection::count_buffers(buffer_bytes& into) const noexcept {
  into.client += in_.capacity();
  if (h2_)
    h2_->count_buffers(into);
  else if (stream_)
    into.upstream += stream_->upstream_buffers();
}

void connection::interrupt(bool force) noexcept {
  if (h2_) {
    if (force) forced = true;
    h2_->interrupt(force);
    return;
  }
  if (force) {
    forced = true;
    client_.cancel();
    if (stream_) stream_->interrupt();
  } else if (watch_.phase() == transport::deadline_phase::idle ||
             watch_.phase() == transport::deadline_phase::handshake) {
    client_.cancel();
  }
  // Active requests see worker.draining() when they finish and close then.
}

void connection::start_watchdog() {
  watch_.run([self = shared_from_this()] { self->deadline_passed(); });
}

void connection::deadline_passed() {
  // A client that took nothing of what was written for the idle timeout:
  // counted here, where the expiry is seen, so writes pay nothing for it.
  if (watch_.phase() == transport::deadline_phase::send) worker_.count(limit_kind::send_timeout);
  client_.cancel();
  if (h2_)
    h2_->expired();
  else if (stream_)
    stream_->interrupt();
}

asio::awaitable<bool> connection::open_connection() {
  // No co_await inside a condition here: GCC 12 gave this coroutine, written
  // with `!gone() && co_await speaks_h2()`, a frame that overlapped the next
  // one (start_tls's `this` overwritten; the integration tests crashed).
  const bool secured = co_await start_tls();
  if (!secured) closed = true;
  if (gone()) co_return false;
  if (listener_group->protocol != listener_protocol::http) {
    co_await carry_connection();
    co_return false;
  }
  const bool h2 = co_await speaks_h2();
  if (!h2) co_return !gone();
  h2_ = std::make_unique<h2_session>(*this);
  co_await h2_->run();
  co_return false;
}

asio::awaitable<void> connection::linger_out() {
  std::size_t room = 0;
  in_.clear();
  hold_input();
  char* scratch = in_.prepare(room, in_.capacity());
  co_await client_.linger(watch_, asio::buffer(scratch, room));
  in_.clear();
}

asio::awaitable<void> connection::run() {
  // What runs once (TLS, another protocol) and what runs at the end are
  // coroutines of their own, to keep this frame, which an idle keep-alive
  // connection holds, small.
  auto self = shared_from_this();
  const bool http1 = co_await open_connection();  // not inside a condition: see open_connection
  if (!http1) {
    close();
    co_return;
  }
  while (!gone()) {
    if (in_.capacity() == 0) {
      // Idle until the client sends: the wait is here rather than in
      // read_request_head, so an idle connection keeps that frame neither.
      if (!refresh_snapshot() || worker_.draining()) break;
      watch_.arm(transport::deadline_phase::idle, listener->config.limits.idle_timeout);
      auto [ec, n] = co_await client_.read_some(input_space(0));
      if (ec) break;  // the idle timeout, a drain, or the client left
      unrecorded_in_ += input_read(n);
    }
    if (!co_await read_request_head()) {
      end_request();  // a head that was refused (400, 408, 414, 431) still counts
      break;
    }
    if (!worker_.admit_stream()) {
      // The worker is at its cap of requests in progress, or the process
      // sheds load: this one is not started, and the connection closes.
      stream_->forget_request();
      co_await stream_->local_reply(503, "the gateway is at capacity; try again later\n", true);
      end_request();
      break;
    }
    const bool served = co_await stream_->serve();
    worker_.end_stream();
    listener = stream_->listener();  // the next head is read with this request's limits
    end_request();
    if (!served || !keep_alive_ || worker_.draining() || forced) break;
  }
  if (linger_ && !gone()) co_await linger_out();
  close();
}

asio::awaitable<void> connection::carry_connection() {
  const bool passthrough = listener_group->protocol == listener_protocol::tls_passthrough;
  protocol = passthrough ? "TLS"sv : "TCP"sv;
  request_stream().record().start = steady_clock::now();
  std::string_view name;
  if (passthrough) {
    // The ClientHello is read, not answered: its SNI picks the route, and
    // its bytes go to the backend first.
    watch_.arm(transport::deadline_phase::handshake, listener->config.limits.header_timeout);
    for (;;) {
      const tls::client_hello hello = tls::read_client_hello(in_.view(), server_name_);
      if (hello.status == tls::hello_status::complete) {
        name = hello.server_name;
        break;
      }
      if (hello.status == tls::hello_status::not_tls) {
        if (worker_.log().enabled(log_level::debug))
          worker_.log().log(
              log_level::debug,
              "connection from {}:{} to TLS passthrough listener {}: not a TLS ClientHello, closed",
              client_ip, client_port, listener->config.name);
        watch_.disarm();
        co_return;
      }
      std::size_t room = 0;
      hold_input();
      char* into = in_.prepare(room, tls::max_hello + 2 * 16 * 1024);
      if (room == 0) co_return;  // cannot happen within max_hello; bounded all the same
      auto [ec, n] = co_await client_.read_some(asio::buffer(into, room));
      if (ec || n == 0) {
        watch_.disarm();
        co_return;  // gone, or the handshake timeout passed
      }
      in_.commit(n);
    }
    watch_.disarm();
  } else if (tls) {
    name = tls->info().server_name;
  }
  co_await stream_->carry_connection(snapshot_->select(*listener_group, name), name);
  if (passthrough && !stream_->record().matched_route && !gone()) {
    // No listener or route has this name: a fatal unrecognized_name alert
    // (RFC 6066 §3) tells the client so, rather than a bare close.
    static constexpr char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70};
    std::vector<asio::const_buffer> out{asio::buffer(alert)};
    std::uint64_t written = 0;
    co_await client_.write(out, watch_, std::chrono::seconds(1), written);
  }
  end_request();
}

stream& connection::request_stream() {
  if (!stream_) {
    stream_ = worker_.streams().take(*this, watch_);
    stream_->record().series = listener->unrouted_series;
    stream_->record().bytes_in += std::exchange(unrecorded_in_, 0);  // read before it was taken
  }
  return *stream_;
}

void connection::end_request() noexcept {
  if (stream_) {
    stream_->finish();
    stream_.reset();
  }
  release_input();
}

asio::mutable_buffer connection::input_space(std::size_t limit) {
  reading_first_ = in_.capacity() == 0;
  if (reading_first_) return asio::buffer(first_);
  std::size_t room = 0;
  char* at = in_.prepare(room, limit);
  return asio::buffer(at, room);
}

std::size_t connection::input_read(std::size_t n) {
  if (!reading_first_) {
    in_.commit(n);
    return n;
  }
  reading_first_ = false;
  if (n == 0) return 0;
  hold_input();
  std::size_t room = 0;
  char* at = in_.prepare(room, in_.capacity());
  std::memcpy(at, first_, n);
  in_.commit(n);
  if (n < sizeof first_) return n;
  // first_ was filled: more is likely there already (a body, a long head).
  // Taking it now keeps a request that came whole whole in the buffer (so
  // its body goes upstream with its head, and can be replayed).
  at = in_.prepare(room, in_.capacity());
  const std::size_t more = client_.read_now(asio::buffer(at, room));
  in_.commit(more);
  return n + more;
}

void connection::hold_input() {
  block_pool& blocks = worker_.blocks();
  if (in_.capacity() == 0) in_.adopt(blocks.take(), blocks.block_size());
}

void connection::release_input() noexcept {
  if (!in_.empty() || in_.capacity() == 0) return;
  block_pool& blocks = worker_.blocks();
  const bool pooled = in_.capacity() == blocks.block_size();
  auto storage = in_.release();
  if (pooled) blocks.give(std::move(storage));  // a grown one is freed
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
  this->snap = snap.get();
  listener_group = g;
  listener = &snap->listeners[g->members.front()];
  return true;
}

asio::awaitable<bool> connection::start_tls() {
  if (!refresh_snapshot()) co_return false;
  const std::shared_ptr<const tls::server_context> context = listener_group->tls;
  if (!context) co_return true;
  using metrics::slot;
  if (worker_.pending_handshakes >= context->max_pending_handshakes()) {
    worker_.count(slot("gateway_tls_handshakes_total", "refused"));
    co_return false;
  }
  ++worker_.pending_handshakes;
  watch_.arm(transport::deadline_phase::handshake, context->handshake_timeout());
  const boost::system::error_code ec = co_await client_.handshake(context, worker_.blocks());
  --worker_.pending_handshakes;
  const bool timed_out = watch_.expired();
  watch_.disarm();
  if (ec) {
    worker_.count(timed_out ? slot("gateway_tls_handshakes_total", "timeout")
                            : slot("gateway_tls_handshakes_total", "failed"));
    if (worker_.log().enabled(log_level::debug))
      worker_.log().log(log_level::debug, "TLS handshake from {}:{}{}", client_ip, client_port,
                        timed_out ? " timed out" : " failed: " + client_.tls()->why(ec));
    co_return false;
  }
  worker_.count(slot("gateway_tls_handshakes_total", "ok"));
  if (client_.tls()->info().resumed) worker_.count(slot("gateway_tls_resumed_total"));
  tls = client_.tls();
  https = true;
  tls_validation = context->validation_id(client_.tls()->listener());
  co_return true;
}

void connection::count_refusal(int status) noexcept {
  if (status == 414) worker_.count(limit_kind::request_line);
  if (status == 431) worker_.count(limit_kind::request_headers);
  if (status == 408) worker_.count(limit_kind::header_timeout);
}

asio::awaitable<bool> connection::flush() {
  return client_.write(gather_, watch_, listener->config.limits.stream_idle_timeout,
                       stream_->record().bytes_out);
}

asio::awaitable<bool> connection::read_request_head() {
  // The limits for reading the head come from the config current now; the
  // request itself is served by the config current when its head is complete,
  // so a keep-alive connection idle across a reload uses the new one.
  if (!refresh_snapshot() && (!snapshot_ || in_.empty())) co_return false;
  const listener_limits limits = listener->config.limits;  // a copy: the snapshot may change
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
      // The connection holds a stream from a request's first byte on: an
      // idle one holds none.
      if (request_stream().record().start == steady_clock::time_point{})
        stream_->record().start = steady_clock::now();
      if (std::size_t end = scanner_.find_end(pending)) {
        refresh_snapshot();
        int status =
            http1::parse_request_head(pending.substr(0, end), stream_->request(), head_limits);
        if (status == 0) begin_message(stream_->request());
        if (status) {
          count_refusal(status);
          stream_->forget_request();
          co_await stream_->local_reply(status, http::reason_phrase(status), true);
          co_return false;
        }
        co_return true;
      }
      if (int status =
              scanner_.bare_lf() ? 400 : http1::incomplete_request_status(pending, head_limits)) {
        count_refusal(status);
        stream_->forget_request();
        co_await stream_->local_reply(status, http::reason_phrase(status), true);
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
    const asio::mutable_buffer into = input_space(limits.max_request_head + 2 * 1024);
    if (into.size() == 0) {
      count_refusal(431);
      stream_->forget_request();
      co_await stream_->local_reply(431, "Request Header Fields Too Large", true);
      co_return false;
    }
    auto [ec, n] = co_await client_.read_some(into);
    if (!ec) n = input_read(n);
    if (n) request_stream().record().bytes_in += n;
    if (ec) {
      if (watch_.expired() && watch_.phase() == transport::deadline_phase::head) {
        count_refusal(408);
        stream_->forget_request();
        co_await stream_->local_reply(408, "Request Timeout", true);
      }
      co_return false;
    }
  }
}

asio::awaitable<bool> connection::speaks_h2() {
  if (client_.tls()) co_return client_.tls()->info().alpn == "h2";
  const std::string_view preface = http2::client_preface;
  for (;;) {
    const std::string_view seen = in_.view();
    const std::size_t n = std::min(seen.size(), preface.size());
    if (seen.substr(0, n) != preface.substr(0, n)) co_return false;
    if (n == preface.size()) co_return true;
    const listener_limits& limits = listener->config.limits;
    if (seen.empty())
      watch_.arm(transport::deadline_phase::idle, limits.idle_timeout);
    else
      watch_.arm(transport::deadline_phase::head, limits.header_timeout);
    auto [ec, got] = co_await client_.read_some(input_space(preface.size()));
    if (ec) {
      closed = true;  // gone before its first request (or its first bytes timed out)
      co_return false;
    }
    unrecorded_in_ += input_read(got);
  }
}

void connection::begin_message(const http1::request_head& head) noexcept {
  version_minor_ = head.version_minor;
  protocol = version_minor_ == 0 ? "HTTP/1.0"sv : "HTTP/1.1"sv;
  // A saturated process turns keep-alive off: the client's next request
  // finds a gateway (this one later, or another) that has room.
  keep_alive_ =
      head.wants_keep_alive() && !group_gone_ && worker_.overload() == overload_level::normal;
  head_size_ = head.head_size;
  expect_continue_ = head.expect_continue;
  sent_continue_ = false;
  body_chunked_ = head.chunked;
  body_left_ = head.chunked || !head.has_content_length ? 0 : head.content_length;
  peeked_ = 0;
  if (body_chunked_) chunks_.reset();
  // The request's deadline runs from its first byte, as the head timeout's.
  const std::chrono::milliseconds received = listener->config.limits.request_received_timeout;
  request_deadline = received.count() > 0 && (body_chunked_ || body_left_ > 0)
                         ? stream_->record().start + received
                         : steady_clock::time_point{};
}

std::pair<std::string_view, std::uint16_t> connection::local_address() noexcept {
  if (local_ip_len_ == 0) {
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
  return {std::string_view(local_ip_, local_ip_len_), local_port_};
}

void connection::release_head() noexcept {
  in_.consume(head_size_);
  head_size_ = 0;
}

body_view connection::peek_body(std::vector<asio::const_buffer>& out) {
  body_view v;
  if (!body_chunked_) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(body_left_, in_.size()));
    if (n) out.emplace_back(in_.view().data(), n);
    v.count = n ? 1 : 0;
    v.bytes = n;
    v.end = n == body_left_;
    peeked_ = n;
    return v;
  }
  // Decoded again from the last release each time, so a second peek sees
  // the same pieces (a retry sends them again).
  peek_chunks_ = chunks_;
  const http1::rechunk_result r = http1::rechunk(peek_chunks_, in_.view(), out);
  v.count = r.data_count;
  v.bytes = r.data_bytes;
  v.error = r.error;
  v.end = r.done;
  peeked_ = r.used;
  if (r.done) {
    trailers_.clear();
    peek_chunks_.trailer_fields(trailers_);
    v.trailers = trailers_;
  }
  return v;
}

void connection::release_body() noexcept {
  in_.consume(peeked_);
  if (body_chunked_)
    std::swap(chunks_, peek_chunks_);
  else
    body_left_ -= peeked_;
  peeked_ = 0;
}

asio::awaitable<body_read> connection::read_body(std::size_t room_for) {
  const listener_limits& limits = listener->config.limits;
  if (expect_continue_ && !sent_continue_) {
    sent_continue_ = true;
    gather_.clear();
    gather_.emplace_back(asio::buffer(http1::continue_response));
    watch_.arm(transport::deadline_phase::stream, limits.stream_idle_timeout);
    if (!co_await flush()) co_return body_read::gone;
  }
  std::size_t room = 0;
  hold_input();
  char* dst = in_.prepare(room, std::max(room_for, in_.capacity()));
  if (room == 0) co_return body_read::full;
  room = std::min(room, room_for);  // the buffer may be larger (the head's)
  const body_wait wait = wait_for_body(request_deadline, limits.stream_idle_timeout);
  if (wait.passed()) co_return body_read::late;
  watch_.arm(transport::deadline_phase::stream, wait.timeout);
  auto [ec, n] = co_await client_.read_some(asio::buffer(dst, room));
  stream_->record().bytes_in += n;
  if (ec) co_return (wait.deadline_first && watch_.expired()) ? body_read::late : body_read::gone;
  in_.commit(n);
  co_return body_read::ok;
}

void connection::start_response(const response_start& r) {
  request_deadline = {};  // the rest of the body may come as the response goes
  // A body of unknown length goes chunked to HTTP/1.1 clients; an HTTP/1.0
  // client learns its end from the close.
  chunked_out_ = !r.bodyless && !r.has_length && version_minor_ == 1;
  chunk_pieces_.clear();  // a response cut short may have left some
  chunk_bytes_ = 0;
  if (!r.bodyless && !r.has_length && !chunked_out_) keep_alive_ = false;
  if (worker_.draining() || worker_.overload() != overload_level::normal) keep_alive_ = false;
  http1::response_framing framing;
  framing.bodyless = r.bodyless;
  framing.chunked = chunked_out_;
  framing.has_length = r.has_length;
  framing.length = r.length;
  framing.close = !keep_alive_;
  framing.keep_alive = version_minor_ == 0;
  if (r.status == 101) {  // its fields say `connection: upgrade`; a tunnel follows
    keep_alive_ = false;
    framing.close = framing.keep_alive = false;
  }
  std::string& head = stream_->client_head();
  http1::write_response_head(head, r.status, r.reason, r.fields, framing);
  gather_.clear();
  gather_.emplace_back(head.data(), head.size());
}

asio::awaitable<bool> connection::write(std::vector<asio::const_buffer>& gather) {
  return client_.write(gather, watch_, listener->config.limits.stream_idle_timeout,
                       stream_->record().bytes_out);
}

void connection::send_body(std::span<const asio::const_buffer> pieces, std::uint64_t bytes) {
  if (!bytes) return;
  if (chunked_out_) {
    chunk_pieces_.insert(chunk_pieces_.end(), pieces.begin(), pieces.end());
    chunk_bytes_ += bytes;
  } else if (bytes <= small_body && gather_.size() == 1 &&
             gather_.front().data() == stream_->client_head().data()) {
    // A small body goes out in the head's buffer: one send() of one piece.
    std::string& head = stream_->client_head();
    for (const asio::const_buffer& p : pieces)
      head.append(static_cast<const char*>(p.data()), p.size());
    gather_.front() = asio::buffer(head);
  } else {
    gather_.insert(gather_.end(), pieces.begin(), pieces.end());
  }
}

asio::awaitable<bool> connection::send(bool end, std::span<const http::header> trailers) {
  if (chunk_bytes_) {
    framer_.chunk(chunk_pieces_, chunk_bytes_, gather_);
    chunk_pieces_.clear();
    chunk_bytes_ = 0;
  }
  if (end && chunked_out_) framer_.end(trailers, gather_);
  return flush();
}

asio::awaitable<bool> connection::send_interim(int status, std::string_view reason,
                                               std::span<const http::header> fields) {
  // HTTP/1.0 has no interim answers; 100 Continue is this codec's own.
  if (version_minor_ == 0 || status == 100) co_return true;
  http1::response_framing framing;
  framing.bodyless = true;
  std::string& head = stream_->client_head();
  http1::write_response_head(head, status, reason, fields, framing);
  gather_.clear();
  gather_.emplace_back(head.data(), head.size());
  co_return co_await flush();
}

asio::awaitable<bool> connection::send_local(const local_answer& a) {
  // The client learns of a close it did not ask for (keep-alive off) from the answer.
  std::string& head = stream_->client_head();
  http1::write_local_reply(head, a.status, a.fields, a.body, a.close || !keep_alive_,
                           a.head_request);
  if (a.close) {
    linger_ = true;
    keep_alive_ = false;
  }
  gather_.clear();
  gather_.emplace_back(head.data(), head.size());
  return flush();
}

void connection::drop() noexcept {
  keep_alive_ = false;
  client_.reset();
  close();
}

}  // namespace gateway
