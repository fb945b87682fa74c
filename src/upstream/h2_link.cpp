// HTTP/2 to an upstream: a try's request as a stream on a shared
// h2_connection, its body as the same pieces the HTTP/1.1 link frames, and
// the response from the stream's call.
#include "upstream/h2_link.hpp"

#include <charconv>

#include "server/snapshot.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {}  // namespace

h2_link::h2_link(asio::any_io_executor ex, transport::watchdog& watch)
    : watch_(&watch), call_(std::move(ex)) {}

h2_link::~h2_link() {
  release();
}

std::string_view h2_link::request_fields(const request& r, std::vector<http::header>& out,
                                         char (&length)[24]) {
  // :authority is the Host the upstream would have got; the fields go on
  // without it, with the body's length when it is known.
  std::string_view authority;
  out.clear();
  for (const http::header& h : r.fields) {
    if (http::iequals(h.name, "host")) {
      if (authority.empty()) authority = h.value;
      continue;
    }
    // An Upgrade asked for on an HTTP/1.1 hop has no place on an HTTP/2
    // one (RFC 9113 §8.2.2): a WebSocket handshake goes on as a plain GET.
    if (http::iequals(h.name, "connection") || http::iequals(h.name, "upgrade")) continue;
    out.push_back(h);
  }
  // The one connection-specific field HTTP/2 allows (RFC 9113 §8.2.2): a
  // client that takes trailers (gRPC's) says so to the upstream too.
  if (r.te_trailers) out.push_back({"te"sv, "trailers"sv});
  if (r.has_body && !r.chunked) {
    const auto end = std::to_chars(length, length + sizeof length, r.length).ptr;
    out.push_back({"content-length"sv, std::string_view(length, end - length)});
  }
  return authority;
}

void h2_link::use(std::shared_ptr<h2_connection> conn) {
  call_.reset();
  call_.conn = std::move(conn);
  on_ = true;
  interrupted_ = false;
}

bool h2_link::take_pooled(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
                          steady_clock::time_point, bool) {
  std::shared_ptr<h2_connection> shared = pool.take_shared(s, c, h);
  if (!shared) return false;
  backlog_ = s.clusters[c].config.buffer_limit;
  use(std::move(shared));
  return true;
}

bool h2_link::wait_for_opening(const connection_pool& pool, const endpoint_state& ep) const {
  // Its streams will have room for this try too.
  return pool.is_opening(ep);
}

void h2_link::opening(connection_pool& pool, const endpoint_state& ep, bool started) noexcept {
  if (started)
    pool.start_opening(ep);
  else
    pool.end_opening(ep);
}

void h2_link::attach(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
                     std::unique_ptr<upstream_connection> conn) {
  backlog_ = s.clusters[c].config.buffer_limit;
  use(pool.share(s, c, h, std::move(conn)));
}

bool h2_link::begin(const request& r) {
  idle_ = r.idle;
  taken_ = 0;
  const std::string_view authority = request_fields(r, fields_, length_);
  if (call_.conn->begin(call_, r.method, authority, r.target, fields_, r.has_body)) return true;
  call_.closed = true;  // no stream started: nothing was processed
  call_.refused = true;
  return false;
}

asio::awaitable<bool> h2_link::send(std::span<const asio::const_buffer> pieces, std::uint64_t,
                                    bool end, std::span<const http::header> trailers) {
  // The pieces are views of buffers that are released after this: the call
  // keeps its own copy until the codec takes it. What the codec took goes
  // first, so the string holds only the backlog (at most a window's worth
  // and a piece), however long the body.
  if (call_.out_at) {
    call_.out.erase(0, call_.out_at);
    call_.out_at = 0;
  }
  for (const asio::const_buffer& b : pieces)
    call_.out.append(static_cast<const char*>(b.data()), b.size());
  if (end) {
    call_.out_end = true;
    for (const http::header& h : trailers)
      call_.out_trailers_owned.add(h.name, h.value);
    call_.out_trailers_owned.append_to(call_.out_trailers);
  }
  if (call_.closed) co_return false;
  call_.conn->more(call_);
  // Backpressure: no more than a window's worth waits in the call.
  watch_->arm(transport::deadline_phase::stream, idle_);
  while (call_.out.size() - call_.out_at > backlog_ && !call_.closed) {
    if (stopped()) co_return false;
    co_await news();
    if (stopped()) co_return false;
  }
  co_return !call_.closed || call_.answered();
}

asio::awaitable<std::tuple<boost::system::error_code>> h2_link::news() {
  // Not a coroutine: the wait is the timer's own, with no frame of ours.
  call_.wake.expires_at(steady_clock::time_point::max());
  return call_.wake.async_wait(use_tuple);
}

void h2_link::start_head(http1::response_head& into, int status) noexcept {
  into.clear();
  into.version_major = 2;
  into.version_minor = 0;
  into.status = status;
  into.reason = http::reason_phrase(status);
}

asio::awaitable<upstream_link::head_result> h2_link::read_head(http1::response_head& into) {
  for (;;) {
    if (call_.interim_status) {
      // The link keeps it while it is forwarded: another may come meanwhile.
      start_head(into, call_.interim_status);
      std::swap(interim_, call_.interim);
      call_.interim.clear();
      interim_.append_to(into.headers);
      call_.interim_status = 0;
      co_return head_result::interim;
    }
    if (call_.status) break;
    if (call_.over_limit) co_return head_result::invalid;  // reset: refused, not retried
    if (call_.closed || stopped()) co_return head_result::failed;
    co_await news();
  }
  start_head(into, call_.status);
  call_.head.append_to(into.headers);
  if (const http::header* cl = http::find_header(into.headers, "content-length")) {
    std::uint64_t n = 0;
    const auto r = std::from_chars(cl->value.data(), cl->value.data() + cl->value.size(), n);
    if (r.ec != std::errc() || r.ptr != cl->value.data() + cl->value.size())
      co_return head_result::invalid;
    into.has_content_length = true;
    into.content_length = n;
  }
  co_return head_result::final;
}

void h2_link::start_body(const http1::response_head&, bool bodyless) {
  bodyless_ = bodyless;
  taken_ = 0;
}

void h2_link::give_back_taken() noexcept {
  // On the connection, even once the stream has ended.
  if (taken_ && call_.conn) call_.conn->consumed(call_, taken_);
  taken_ = 0;
}

upstream_link::body_step h2_link::take(std::vector<asio::const_buffer>& out) {
  give_back_taken();
  body_step s;
  if (bodyless_) {
    s.end = true;
    return s;
  }
  if (call_.in.empty()) {
    s.end = call_.in_end;
    s.error = !s.end && call_.closed;  // reset before the end
    return s;
  }
  // The piece moves out of the call, so the connection can go on receiving
  // while the client is sent this one.
  body_.clear();
  std::swap(body_, call_.in);
  taken_ = body_.size();
  out.emplace_back(body_.data(), body_.size());
  s.bytes = body_.size();
  s.end = call_.in_end && call_.in.empty();
  return s;
}

asio::awaitable<bool> h2_link::fill() {
  give_back_taken();
  watch_->arm(transport::deadline_phase::stream, idle_);
  while (call_.in.empty() && !call_.in_end) {
    if (call_.closed || stopped()) co_return false;  // reset before the end, or no more waiting
    co_await news();
  }
  co_return true;
}

void h2_link::release() noexcept {
  if (!on_) return;
  on_ = false;
  if (call_.conn) {
    // What came and was not given back yet still holds the connection's
    // window (the stream's too, while it is open): all of it goes back,
    // whether the stream ended or not, or the connection's window shrinks
    // with every response until the upstream can send nothing more.
    if (const std::size_t unused = taken_ + call_.in.size()) call_.conn->consumed(call_, unused);
    call_.conn->release(call_);
  }
  taken_ = 0;
  call_.closed = true;
  call_.wake.cancel();
}

void h2_link::finish(connection_pool&, bool) noexcept {
  // The connection stays shared whatever became of the stream: the pool
  // and the connection's own state decide when it closes.
  release();
  call_.conn.reset();
}

void h2_link::interrupt() noexcept {
  interrupted_ = true;
  call_.wake.cancel();
}

bool h2_link::retire_if_silent(steady_clock::time_point sent_at) noexcept {
  if (!call_.conn || !call_.conn->silent_since(sent_at)) return false;
  call_.conn->retire();
  return true;
}

}  // namespace gateway
