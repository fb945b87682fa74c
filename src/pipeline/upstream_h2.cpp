// The HTTP/2 side of the upstream leg: a try's request as a stream on a
// shared upstream/h2_connection (its head as neutral fields, its body as the
// same pieces the HTTP/1.1 side frames), and the response from the stream's
// h2_call. The try loop around it is upstream_leg.cpp's.
#include <charconv>

#include "http1/http1_parser.hpp"
#include "server/worker.hpp"
#include "stream/stream.hpp"
#include "upstream/h2_connection.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
constexpr std::size_t stream_buffer_limit = 64 * 1024;  // request body waiting in the call
}  // namespace

std::string_view stream::h2_request_fields(bool has_body) {
  // :authority is the Host the upstream would have got; the fields go on
  // without it, with the body's length when it is known.
  std::string_view authority;
  h2_fields_.clear();
  for (const http::header& h : upstream_request_.fields) {
    if (http::iequals(h.name, "host")) {
      if (authority.empty()) authority = h.value;
      continue;
    }
    h2_fields_.push_back(h);
  }
  // The one connection-specific field HTTP/2 allows (RFC 9113 §8.2.2): a
  // client that takes trailers (gRPC's) says so to the upstream too.
  for (const http::header& h : request_.headers)
    if (http::iequals(h.name, "te") && http1::lists_token(h.value, "trailers")) {
      h2_fields_.push_back({"te"sv, "trailers"sv});
      break;
    }
  if (has_body && !request_chunked_) {
    const auto r = std::to_chars(h2_length_, h2_length_ + sizeof h2_length_, request_length_);
    h2_fields_.push_back(
        {"content-length"sv,
         std::string_view(h2_length_, static_cast<std::size_t>(r.ptr - h2_length_))});
  }
  return authority;
}

bool stream::begin_h2(bool has_body) {
  const std::string_view authority = h2_request_fields(has_body);
  if (h2_->conn->begin(*h2_, upstream_request_.method, authority, upstream_request_.target,
                       h2_fields_, has_body))
    return true;
  h2_->closed = true;  // no stream started: nothing was processed
  h2_->refused = true;
  return false;
}

asio::awaitable<bool> stream::send_h2(bool end, std::span<const http::header> trailers) {
  h2_call& call = *h2_;
  // The pieces are views of downstream buffers that are released after
  // this: the call keeps its own copy until the codec takes it.
  // What the codec took goes first: the string holds only the backlog (at
  // most a window's worth and a piece), however long the body.
  if (call.out_at) {
    call.out.erase(0, call.out_at);
    call.out_at = 0;
  }
  for (const asio::const_buffer& b : gather_)
    call.out.append(static_cast<const char*>(b.data()), b.size());
  gather_.clear();
  if (end) {
    call.out_end = true;
    for (const http::header& h : trailers)
      call.out_trailers_owned.add(h.name, h.value);
    call.out_trailers_owned.append_to(call.out_trailers);
  }
  if (call.closed) co_return false;
  call.conn->more(call);
  // Backpressure: no more than a window's worth waits in the call.
  watch_.arm(transport::deadline_phase::stream, listener_->config.limits.stream_idle_timeout);
  while (call.out.size() - call.out_at > stream_buffer_limit && !call.closed)
    if (!co_await wait_h2()) co_return false;
  co_return !call.closed || call.answered();
}

asio::awaitable<bool> stream::wait_h2() {
  if (watch_.expired() || gone()) co_return false;
  h2_->wake.expires_at(steady_clock::time_point::max());
  co_await h2_->wake.async_wait(use_tuple);
  co_return !watch_.expired() && !gone();
}

void stream::release_h2() noexcept {
  if (!h2_ || !on_h2_) return;
  on_h2_ = false;
  if (h2_->conn) {
    // What came and was not given back yet still holds the connection's
    // window (the stream's too, while it is open): all of it goes back,
    // whether the stream ended or not, or the connection's window shrinks
    // with every response until the upstream can send nothing more.
    if (const std::size_t unused = h2_unconsumed_ + h2_->in.size())
      h2_->conn->consumed(*h2_, unused);
    h2_->conn->release(*h2_);
  }
  h2_unconsumed_ = 0;
  h2_->closed = true;
  h2_->wake.cancel();
}

asio::awaitable<bool> stream::next_h2_piece(std::string_view& piece, bool& end) {
  h2_call& call = *h2_;
  // The last piece has been used: the upstream may send that much more (on
  // the connection, even once the stream has ended).
  if (h2_unconsumed_ && call.conn) call.conn->consumed(call, h2_unconsumed_);
  h2_unconsumed_ = 0;
  watch_.arm(transport::deadline_phase::stream, listener_->config.limits.stream_idle_timeout);
  while (call.in.empty() && !call.in_end) {
    if (call.closed) co_return false;  // reset before the end
    if (!co_await wait_h2()) co_return false;
  }
  // The piece moves out of the call, so the connection can go on receiving
  // while the client is sent this one.
  h2_body_.clear();
  std::swap(h2_body_, call.in);
  h2_unconsumed_ = h2_body_.size();
  piece = h2_body_;
  end = call.in_end && call.in.empty();
  co_return true;
}

asio::awaitable<bool> stream::read_h2_head() {
  h2_call& call = *h2_;
  for (;;) {
    if (call.interim_status) {
      // 100 was the client's codec's business; others (103) go on.
      if (call.interim_status != 100) {
        upstream_fields_.clear();
        call.interim.append_to(upstream_fields_);
        if (!co_await down_.send_interim(
                call.interim_status, http::reason_phrase(call.interim_status), upstream_fields_))
          co_return false;
      }
      call.interim_status = 0;
      response_started_ = true;
      continue;
    }
    if (call.status) break;
    if (call.closed || !co_await wait_h2()) co_return false;
  }
  response_started_ = true;
  response_.clear();
  response_.version_major = 2;
  response_.version_minor = 0;
  response_.status = call.status;
  response_.reason = http::reason_phrase(call.status);
  call.head.append_to(response_.headers);
  if (const http::header* cl = http::find_header(response_.headers, "content-length")) {
    std::uint64_t n = 0;
    const auto r = std::from_chars(cl->value.data(), cl->value.data() + cl->value.size(), n);
    if (r.ec != std::errc() || r.ptr != cl->value.data() + cl->value.size()) {
      invalid_response_ = true;
      co_return false;
    }
    response_.has_content_length = true;
    response_.content_length = n;
  }
  co_return true;
}

}  // namespace gateway
