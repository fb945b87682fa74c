#include "server/h2_session.hpp"

#include <charconv>
#include <limits>

#include "asio/spawn.hpp"
#include "http2/request_fields.hpp"
#include "server/connection.hpp"
#include "server/worker.hpp"
#include "stream/downstream.hpp"
#include "stream/owned_fields.hpp"
#include "stream/stream.hpp"
#include "tls/digest.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
constexpr std::size_t write_batch = 64 * 1024;
}  // namespace

// One request stream: its head and body as they arrive, its response on the
// way out, and the gateway::stream that serves it.
struct h2_session::h2_stream final : downstream,
                                     byte_pipe,
                                     std::enable_shared_from_this<h2_stream> {
  h2_stream(h2_session& owning, std::int32_t stream_id)
      : session(owning),
        id(stream_id),
        parts(owning.conn_.worker_.h2_parts().take()),
        watch(parts->watch),
        wake(parts->wake),
        st(owning.conn_.worker_.streams().take(*this, watch)),
        in(parts->in),
        tunnel_fields(parts->tunnel_fields),
        body_in(parts->body_in),
        trailers_in_fields(parts->trailers_in_fields),
        head(parts->head),
        body_out(parts->body_out),
        trailers_owned(parts->trailers_owned),
        trailers_out(parts->trailers_out) {
    watch.join(owning.deadlines_);
    connection& c = owning.conn_;
    client_ip = c.client_ip;
    client_port = c.client_port;
    tls = c.tls;
    https = c.https;
    tls_validation = c.tls_validation;
    protocol = "HTTP/2"sv;
    snapshot_ = c.snapshot_;
    snap = c.snap;
    listener_group = c.listener_group;
    listener = c.listener;
    if (const auto t = listener->config.limits.request_received_timeout; t.count() > 0)
      request_deadline = coarse_now() + t;
    budget = high_water = listener->config.limits.buffer_limit;
    st->record().series = listener->unrouted_series;  // until it is routed
  }
  ~h2_stream() {
    // Linked still if serve_stream's frame was destroyed unfinished (the loop shut down).
    session.stop_serving(*this);
    session.conn_.worker_.end_stream();  // admitted by on_request_begin
  }

  // downstream
  std::pair<std::string_view, std::uint16_t> local_address() noexcept override {
    return session.conn_.local_address();
  }
  std::weak_ptr<void> owner() noexcept override { return weak_from_this(); }
  void release_head() noexcept override {}
  body_view peek_body(std::vector<asio::const_buffer>& out) override {
    body_view v;
    if (!body_in.empty()) {
      out.emplace_back(body_in.data(), body_in.size());
      v.count = 1;
      v.bytes = body_in.size();
    }
    v.end = body_end;
    if (body_end) {
      trailers_in_fields.clear();
      in.trailers().append_to(trailers_in_fields);
      v.trailers = trailers_in_fields;
    }
    peeked = body_in.size();
    return v;
  }
  void release_body() noexcept override {
    body_in.erase(0, peeked);
    peeked = 0;
    grant();
  }
  asio::awaitable<body_read> read_body(std::size_t room) override {
    // What the caller has not seen yet may have come in meanwhile.
    const std::size_t seen = peeked;
    if (body_in.size() > seen || body_end) co_return body_read::ok;
    if (body_in.size() >= room) co_return body_read::full;
    if (room > budget) {
      budget = room;
      keep_room();  // no view of body_in is held across read_body
    }
    grant();
    const body_wait wait =
        wait_for_body(request_deadline, listener->config.limits.stream_idle_timeout);
    if (wait.passed()) co_return body_read::late;
    watch.arm(transport::deadline_phase::stream, wait.timeout);
    while (body_in.size() <= seen && !body_end && !gone() && !watch.expired()) {
      wake.expires_at(steady_clock::time_point::max());
      co_await wake.async_wait(use_tuple);
    }
    if (body_in.size() > seen || body_end) co_return body_read::ok;
    co_return !gone() && wait.deadline_first && watch.expired() ? body_read::late : body_read::gone;
  }
  // body_in never reallocates while the pipeline holds views of it: it has
  // room for the budget and a full window beyond it, or for a shorter body
  // whole (nghttp2 resets a stream whose DATA outruns its Content-Length).
  void keep_room() {
    const http1::request_head& rq = st->request();
    const std::size_t most = rq.has_content_length && rq.content_length < budget
                                 ? static_cast<std::size_t>(rq.content_length)
                                 : budget + session.window_;
    body_in.reserve(most + 1);
  }
  void start_response(const response_start& r) override {
    request_deadline = {};  // the rest of the body may come as the response goes
    head_status = r.status;
    head_bodyless = r.bodyless;
    if (in.websocket() && r.status == 101) {
      // RFC 8441 §5: the upstream's 101 is a 200 here, the stream stays
      // open both ways, and the HTTP/1.1 handshake's fields stay behind.
      head_status = 200;
      head_bodyless = false;
      tunnel_fields.clear();
      for (const http::header& h : r.fields)
        if (!http::iequals(h.name, "sec-websocket-accept") && !http::iequals(h.name, "upgrade") &&
            !http::iequals(h.name, "connection"))
          tunnel_fields.push_back(h);
      own_fields(tunnel_fields, false, 0);
      head_pending = true;
      return;
    }
    own_fields(r.fields, r.has_length && !r.bodyless, r.length);
    head_pending = true;
  }
  void send_body(std::span<const asio::const_buffer> pieces, std::uint64_t) override {
    // What the codec took goes first: the string holds only the backlog (at
    // most the high-water mark and a piece), however long the body.
    if (out_at) {
      body_out.erase(0, out_at);
      out_at = 0;
    }
    for (const asio::const_buffer& b : pieces)
      body_out.append(static_cast<const char*>(b.data()), b.size());
  }
  asio::awaitable<bool> send(bool end, std::span<const http::header> trailers) override {
    if (gone()) co_return false;
    if (end && !trailers.empty()) own_trailers(trailers);
    // A response that ends with its head (no body, no trailers) ends the
    // stream on the HEADERS frame: a gRPC Trailers-Only answer must.
    if (end && head_pending && trailers.empty() && body_out.size() == out_at) head_bodyless = true;
    out_end = out_end || end;
    submit_head();
    session.codec_.resume(id);
    session.signal();
    // Backpressure: the pipeline waits while the client is slow to take it,
    // up to the stream idle timeout (a client that never reads, or keeps its
    // window shut, loses the stream).
    if (body_out.size() - out_at > high_water) {
      watch.arm(transport::deadline_phase::stream, listener->config.limits.stream_idle_timeout);
      while (body_out.size() - out_at > high_water && !gone() && !watch.expired()) {
        wake.expires_at(steady_clock::time_point::max());
        co_await wake.async_wait(use_tuple);
      }
      if (watch.expired() && !gone()) {
        session.conn_.worker_.count(limit_kind::send_timeout);
        session.codec_.reset(id, NGHTTP2_CANCEL);
        closed = true;
        session.signal();
      }
    }
    co_return !gone();
  }
  asio::awaitable<bool> send_interim(int status, std::string_view,
                                     std::span<const http::header> fields) override {
    if (gone() || status == 100 || submitted) co_return !gone();
    session.codec_.interim(id, status, fields);
    session.signal();
    co_return true;
  }
  asio::awaitable<bool> send_local(const local_answer& a) override {
    if (gone() || submitted) co_return false;
    head_status = a.status;
    head_bodyless = a.head_request || a.fields_only;  // HEAD: the length, no DATA
    // An answer that leaves the request body unread (413, 408) tells the
    // client to stop sending it: RST_STREAM NO_ERROR after the answer.
    if (a.close) reset_after = true;
    own_fields(a.fields, !a.fields_only, a.body.size());
    body_out.assign(a.head_request ? std::string_view() : a.body);
    out_at = 0;
    out_end = true;
    head_pending = true;
    submit_head();
    session.signal();
    co_return true;
  }
  void drop() noexcept override {
    if (!closed) session.codec_.reset(id, NGHTTP2_INTERNAL_ERROR);
    closed = true;
    session.signal();
  }
  void end_after_response() noexcept override { reset_after = true; }
  byte_pipe* pipe() noexcept override { return in.websocket() ? this : nullptr; }

  // byte_pipe: after the 200 to an extended CONNECT, DATA both ways.
  std::string_view leftover() noexcept override { return body_in; }
  void drop_leftover() noexcept override {
    body_in.clear();
    peeked = 0;
    grant();
  }
  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into) override {
    while (body_in.empty() && !body_end && !gone() && !watch.expired()) {
      wake.expires_at(steady_clock::time_point::max());
      co_await wake.async_wait(use_tuple);
    }
    if (!body_in.empty()) {
      const std::size_t n = std::min(into.size(), body_in.size());
      std::memcpy(into.data(), body_in.data(), n);
      body_in.erase(0, n);
      grant();
      co_return std::tuple{boost::system::error_code{}, n};
    }
    const boost::system::error_code ended =
        body_end && !gone() ? boost::system::error_code(asio::error::eof)
                            : boost::system::error_code(asio::error::operation_aborted);
    co_return std::tuple{ended, std::size_t{0}};
  }
  asio::awaitable<bool> write(std::vector<asio::const_buffer>& gather) override {
    std::uint64_t bytes = 0;
    for (const asio::const_buffer& b : gather)
      bytes += b.size();
    send_body(gather, bytes);
    gather.clear();
    co_return co_await send(false, {});
  }
  void shut() noexcept override {
    if (!closed) session.codec_.reset(id, NGHTTP2_CANCEL);
    closed = true;
    wake.cancel();
    session.signal();
  }
  bool shut_write() noexcept override {
    if (gone()) return false;
    out_end = true;  // END_STREAM once what is queued has gone
    session.codec_.resume(id);
    session.signal();
    return true;
  }
  bool counts_reads() const noexcept override { return true; }

  // Builds the response head as the codec takes it, with head_status: it is
  // submitted with the first send, when the views in `fields` may be gone.
  void own_fields(std::span<const http::header> fields, bool with_length, std::uint64_t length) {
    head.clear();
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, head_status);
    head.add(":status"sv, std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
    head.add_fields(fields, with_length ? "content-length"sv : std::string_view());
    if (with_length) {
      r = std::to_chars(digits, digits + sizeof digits, length);
      head.add("content-length"sv,
               std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
    }
  }
  void own_trailers(std::span<const http::header> fields) {
    trailers_owned.clear();
    for (const http::header& h : fields)
      trailers_owned.add(h.name, h.value);
    trailers_out.clear();
    trailers_owned.append_to(trailers_out);
  }
  void submit_head() {
    if (!head_pending) return;
    head_pending = false;
    submitted = true;
    if (!session.codec_.respond(id, head, head_bodyless)) {
      session.codec_.reset(id, NGHTTP2_INTERNAL_ERROR);
      closed = true;
    }
  }
  // Lets the client send more once what is buffered is within the budget.
  void grant() {
    if (unconsumed == 0 || body_in.size() > budget) return;
    session.codec_.consume(id, unconsumed);
    unconsumed = 0;
    session.signal();
  }

  h2_session& session;
  const std::int32_t id;
  std::shared_ptr<const snapshot> snapshot_;  // what the stream is served from
  // What holds memory and the timers, below; given back when the stream
  // ends, after the stream, which may hold views of it. Every wait on `wake`
  // holds the stream, and `watch` waits on the session's deadlines_, so no
  // wait is pending then.
  h2_parts_pool::lease parts;
  transport::watchdog& watch;  // the stream's own deadline
  asio::steady_timer& wake;    // body arrived, room to send, or the stream ended
  stream_pool::lease st;       // given back when the stream ends
  // The session's serving streams (check_deadlines), while serve_stream runs.
  h2_stream* serving_prev = nullptr;
  h2_stream* serving_next = nullptr;

  // The request head and trailers as they arrive. An extended CONNECT for
  // WebSocket (RFC 8441) is served as an HTTP/1.1 Upgrade GET.
  http2::received_request& in;
  std::vector<http::header>& tunnel_fields;  // the 200's fields, before they are owned

  std::string& body_in;                           // request body not yet released
  std::vector<http::header>& trailers_in_fields;  // views of in.trailers()
  std::size_t peeked = 0;
  std::size_t unconsumed = 0;  // received bytes the client's window still counts
  // Request body buffered before the client waits (a reader that wants
  // the body whole raises it), and the unsent response body at most: the
  // listener's buffer limit.
  std::size_t budget = 0, high_water = 0;
  bool body_end = false;

  int head_status = 0;
  bool head_bodyless = false;
  bool head_pending = false;  // a response head waits for the first send
  bool submitted = false;     // the response head went to the codec
  http2::header_block& head;  // the response head, built when the response starts
  std::string& body_out;      // response body not yet taken by the codec (from out_at)
  std::size_t out_at = 0;
  bool out_end = false;
  bool reset_after = false;  // the request body was not read to its end
  bool cut = false;          // the response ends short: reset once what is queued went
  owned_fields& trailers_owned;
  std::vector<http::header>& trailers_out;  // views of trailers_owned
};

namespace {
// What the codec announces: the listener's settings, our defences. The
// header list a client may send is the request head limit HTTP/1.1 has.
http2::settings settings_of(const listener_config& l) {
  const listener_http2_config& c = l.http2;
  http2::settings s;
  s.max_concurrent_streams = c.max_concurrent_streams;
  s.initial_stream_window = c.initial_stream_window;
  s.initial_connection_window = c.initial_connection_window;
  s.max_header_list = static_cast<std::uint32_t>(
      std::min<std::size_t>(l.limits.max_request_head, std::numeric_limits<std::uint32_t>::max()));
  return s;
}
}  // namespace

h2_session::h2_session(connection& owner)
    : conn_(owner),
      window_(owner.listener->config.http2.initial_stream_window),
      codec_(*this, settings_of(owner.listener->config)),
      deadlines_(owner.client_.executor()),
      wake_writer_(owner.client_.executor()),
      done_(owner.client_.executor()) {}

h2_session::~h2_session() = default;

h2_session::h2_stream* h2_session::find(std::int32_t id) noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void h2_session::signal() noexcept {
  wake_writer_.cancel();
}

void h2_session::note_idle() noexcept {
  if (streams_.empty() && serving_ == 0)
    conn_.watch_.arm(transport::deadline_phase::idle, conn_.listener->config.limits.idle_timeout);
}

void h2_session::interrupt(bool force) noexcept {
  if (force) {
    for (auto& [id, s] : streams_) {
      s->forced = true;
      s->st->interrupt();
      s->wake.cancel();
    }
    conn_.client_.cancel();
  } else {
    go_away();
    signal();
  }
}

void h2_session::go_away() noexcept {
  if (goaway_last_ < 0) goaway_last_ = codec_.shut_down();
}

void h2_session::count_buffers(buffer_bytes& into) const noexcept {
  into.client += out_.capacity();
  for (const auto& [id, s] : streams_) {
    into.client += s->body_in.capacity() + s->body_out.capacity();
    into.upstream += s->st->upstream_buffers();
  }
}

void h2_session::expired() noexcept {
  conn_.client_.cancel();
}

bool h2_session::on_request_begin(std::int32_t id) {
  // A stream past the GOAWAY's last one (it crossed it on the wire): the
  // client takes it as not processed and may send it again elsewhere, so
  // it must not be (REFUSED_STREAM says the same).
  if (goaway_last_ >= 0 && id > goaway_last_) return false;
  // Keep-alive off when overloaded: the GOAWAY sends the next streams to a
  // new connection (this one is served, unless the worker is shedding).
  if (conn_.worker_.overload() != overload_level::normal) go_away();
  if (!conn_.worker_.admit_stream()) return false;
  // Each stream is served by the config current when it starts; a reload
  // that removed this connection's listeners lets it finish what it has.
  if (!conn_.refresh_snapshot()) go_away();
  auto s = std::make_shared<h2_stream>(*this, id);
  s->st->record().start = steady_clock::now();
  streams_.insert(id, std::move(s));
  return true;
}

void h2_session::on_request_refused(std::int32_t, bool protocol_error) {
  // nghttp2 refuses a stream past the announced concurrency: REFUSED_STREAM
  // before the client acknowledged it, a connection error after.
  if (!protocol_error || streams_.size() >= conn_.listener->config.http2.max_concurrent_streams)
    conn_.worker_.count(limit_kind::connection_streams);
}

bool h2_session::on_request_field(std::int32_t id, std::string_view name, std::string_view value,
                                  bool trailer) {
  h2_stream* s = find(id);
  if (!s) return false;
  const listener_limits& limits = s->listener->config.limits;
  return s->in.add(name, value, trailer, {limits.max_request_head, limits.max_header_count});
}

void h2_session::on_request_head(std::int32_t id, bool end) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  h2_stream* s = it->second.get();
  s->body_end = end;  // a WebSocket's DATA is the tunnel's: its end is not the body's
  s->in.to_http1(s->st->request(), end);
  if (s->in.websocket()) {
    unsigned char nonce[16];
    for (std::size_t i = 0; i < sizeof nonce; i += 8) {
      const std::uint64_t r = conn_.worker_.random();
      std::memcpy(nonce + i, &r, 8);
    }
    const std::string key =
        tls::base64_encode({reinterpret_cast<const char*>(nonce), sizeof nonce});
    std::memcpy(s->in.websocket_key().data(), key.data(), s->in.websocket_key().size());
  }
  ++serving_;
  spawn(conn_.client_.executor(), serve_stream(it->second, conn_.shared_from_this()));
}

void h2_session::on_request_data(std::int32_t id, std::string_view data) {
  h2_stream* s = find(id);
  if (!s) {
    codec_.consume(id, data.size());  // the connection's window only
    return;
  }
  s->st->record().bytes_in += data.size();
  // Room for the body is made when the first of it comes (a GET has none);
  // no view of body_in can exist before that.
  if (s->body_in.empty() && s->body_in.capacity() < s->budget) s->keep_room();
  s->body_in.append(data);
  s->unconsumed += data.size();
  s->grant();
  s->wake.cancel();
}

void h2_session::on_request_end(std::int32_t id) {
  if (h2_stream* s = find(id)) {
    s->body_end = true;
    s->wake.cancel();
  }
}

void h2_session::on_stream_close(std::int32_t id, std::uint32_t) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  h2_stream& s = *it->second;
  s.closed = true;
  // Request body the stream never let go of still counts against the
  // connection's window: it goes back now, or the window shrinks for good.
  if (s.unconsumed) {
    codec_.consume(id, s.unconsumed);
    s.unconsumed = 0;
  }
  s.st->interrupt();
  s.wake.cancel();
  streams_.erase(it);
  note_idle();
}

h2_session::read_result h2_session::read_response(std::int32_t id, char* out, std::size_t room) {
  read_result r;
  h2_stream* s = find(id);
  if (!s) {
    r.end = true;
    return r;
  }
  const std::size_t n = std::min(room, s->body_out.size() - s->out_at);
  std::memcpy(out, s->body_out.data() + s->out_at, n);
  s->out_at += n;
  s->st->record().bytes_out += n;
  if (s->out_at == s->body_out.size()) {
    s->body_out.clear();
    s->out_at = 0;
  }
  r.size = n;
  r.end = s->out_end && s->body_out.empty();
  r.later = !r.end && n == 0;
  r.broken = r.later && s->cut;
  if (r.end && s->reset_after && !s->body_end) codec_.reset(id, NGHTTP2_NO_ERROR);
  s->wake.cancel();  // room to send more
  return r;
}

std::span<const http::header> h2_session::response_trailers(std::int32_t id) {
  h2_stream* s = find(id);
  return s ? std::span<const http::header>(s->trailers_out) : std::span<const http::header>();
}

asio::awaitable<void> h2_session::serve_stream(std::shared_ptr<h2_stream> s,
                                               std::shared_ptr<connection> keep) {
  conn_.watch_.disarm();  // a stream is open: the connection is not idle
  // The stream's own deadline wakes what it waits on, by the session's
  // deadlines_ timer, which checks the streams linked here.
  s->serving_next = serving_first_;
  if (serving_first_) serving_first_->serving_prev = s.get();
  serving_first_ = s.get();
  if (const int refused = s->in.refused()) {
    conn_.count_refusal(refused);
    s->st->forget_request();
    co_await s->st->local_reply(refused, http::reason_phrase(refused), false);
  } else {
    co_await s->st->serve();
  }
  s->st->finish();
  s->watch.disarm();
  stop_serving(*s);
  // Ended without an answer (the client went, say), or with one cut short
  // (the upstream's body broke or passed its limit): a reset, so the client
  // never waits for the rest or takes a part for the whole. What was queued
  // of a cut body goes first (read_response resets after it).
  if (!s->closed && !s->submitted) {
    codec_.reset(s->id, NGHTTP2_INTERNAL_ERROR);
    s->closed = true;
  } else if (!s->closed && !s->out_end) {
    s->cut = true;
    codec_.resume(s->id);
  }
  signal();
  --serving_;
  note_idle();
  done_.cancel();
  (void)keep;
}

void h2_session::stop_serving(h2_stream& s) noexcept {
  if (!s.serving_prev && serving_first_ != &s) return;  // not linked
  (s.serving_prev ? s.serving_prev->serving_next : serving_first_) = s.serving_next;
  if (s.serving_next) s.serving_next->serving_prev = s.serving_prev;
  s.serving_prev = s.serving_next = nullptr;
}

steady_clock::time_point h2_session::check_deadlines(steady_clock::time_point now) noexcept {
  steady_clock::time_point next = steady_clock::time_point::max();
  for (h2_stream* s = serving_first_; s; s = s->serving_next) {
    if (s->watch.passed(now)) {
      s->st->interrupt();
      s->wake.cancel();
    }
    next = std::min(next, s->watch.deadline());
  }
  return next;
}

asio::awaitable<void> h2_session::write_loop(std::shared_ptr<connection> keep) {
  for (;;) {
    out_.clear();
    if (codec_.pending(out_, write_batch)) {
      gather_.clear();
      gather_.emplace_back(out_.data(), out_.size());
      std::uint64_t written = 0;
      if (!co_await conn_.client_.write(
              gather_, conn_.watch_, conn_.listener->config.limits.stream_idle_timeout, written)) {
        failed_ = true;
        conn_.client_.cancel();
        break;
      }
      // A write that had to wait armed the connection's deadline; the
      // streams' own deadlines bound them, so it goes back to idle-or-none.
      conn_.watch_.disarm();
      note_idle();
      continue;
    }
    if (stopping_ || (!codec_.want_read() && !codec_.want_write())) break;
    wake_writer_.expires_at(steady_clock::time_point::max());
    co_await wake_writer_.async_wait(use_tuple);
  }
  writer_done_ = true;
  if (!codec_.want_read()) conn_.client_.cancel();  // the session is over: the reader stops
  done_.cancel();
  (void)keep;
}

asio::awaitable<void> h2_session::run() {
  auto keep = conn_.shared_from_this();
  spawn(conn_.client_.executor(), write_loop(keep));
  deadlines_.run([this, keep](steady_clock::time_point now) { return check_deadlines(now); });
  // The wait holds the connection: it ends with the session, however that ends.
  struct stop_deadlines {
    transport::watchdog_group& group;
    ~stop_deadlines() { group.stop(); }
  } stop_on_exit{deadlines_};
  byte_buffer& in = conn_.in_;
  conn_.hold_input();
  bool ok = in.empty() || codec_.receive(in.view());
  in.clear();
  signal();
  note_idle();
  while (ok && !failed_ && !conn_.gone() && codec_.want_read()) {
    std::size_t room = 0;
    char* dst = in.prepare(room, in.capacity());
    auto [ec, n] = co_await conn_.client_.read_some(asio::buffer(dst, room));
    if (ec) break;
    in.commit(n);
    ok = codec_.receive(in.view());
    in.clear();
    signal();
  }
  // The client went, broke the protocol, or the deadline passed: what is
  // queued (a GOAWAY, say) still goes, then everything stops.
  if (ok && !failed_) go_away();
  for (auto& [id, s] : streams_) {
    s->closed = true;
    s->st->interrupt();
    s->wake.cancel();
  }
  stopping_ = true;
  signal();
  conn_.watch_.arm(transport::deadline_phase::stream, std::chrono::seconds(2));
  while (serving_ > 0 || !writer_done_) {
    done_.expires_at(steady_clock::time_point::max());
    co_await done_.async_wait(use_tuple);
  }
  streams_.clear();
}

}  // namespace gateway
