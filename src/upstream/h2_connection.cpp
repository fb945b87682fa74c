#include "upstream/h2_connection.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "asio/recv_buffer.hpp"
#include "asio/spawn.hpp"

namespace gateway {

namespace {
constexpr std::size_t read_size = 64 * 1024;
constexpr std::size_t write_batch = 64 * 1024;
}  // namespace

void h2_call::reset() noexcept {
  conn.reset();
  id = 0;
  out.clear();
  out_at = 0;
  out_end = false;
  out_trailers_owned.clear();
  out_trailers.clear();
  interim_status = 0;
  interim.clear();
  status = 0;
  head.clear();
  in.clear();
  in_end = false;
  trailers.clear();
  closed = false;
  error = 0;
  refused = false;
  block.clear();
  block_status = 0;
  block_bytes = 0;
  block_fields = 0;
  over_limit = false;
}

namespace {
// What the upstream is told it may send in one head: the cluster's limits
// in HPACK's measure, which counts 32 bytes per field where ours counts 4
// (advice to the upstream; on_response_field enforces ours).
http2::client_settings settings_for(std::size_t max_head, std::size_t max_fields) {
  http2::client_settings s;
  s.max_header_list = static_cast<std::uint32_t>(
      std::min<std::size_t>(max_head + 28 * (max_fields + 1), 0x7fffffff));
  return s;
}
}  // namespace

h2_connection::h2_connection(std::unique_ptr<upstream_connection> conn, std::string_view scheme,
                             std::uint32_t max_requests, std::size_t max_head,
                             std::size_t max_fields)
    : conn_(std::move(conn)),
      codec_(*this, settings_for(max_head, max_fields)),
      scheme_(scheme),
      max_requests_(max_requests),
      max_head_(max_head),
      max_fields_(max_fields),
      wake_writer_(conn_->socket.get_executor()) {}

// Calls hold the connection while they are on it: none is left here.
h2_connection::~h2_connection() = default;

void h2_connection::start() {
  idle_since = steady_clock::now();
  auto ex = conn_->socket.get_executor();
  spawn(ex, read_loop(shared_from_this()));
  spawn(ex, write_loop(shared_from_this()));
}

bool h2_connection::has_room() const noexcept {
  return !dead_ && !retiring_ && codec_.accepts_requests() &&
         calls_.size() < codec_.peer_max_streams();
}

h2_call* h2_connection::find(std::int32_t id) noexcept {
  for (auto& [sid, call] : calls_)
    if (sid == id) return call;
  return nullptr;
}

bool h2_connection::begin(h2_call& call, std::string_view method, std::string_view authority,
                          std::string_view path, std::span<const http::header> fields,
                          bool has_body) {
  if (!has_room()) return false;
  http2::request_start r;
  r.method = method;
  r.scheme = scheme_;
  r.authority = authority;
  r.path = path;
  r.fields = fields;
  r.has_body = has_body;
  const std::int32_t id = codec_.request(r);
  if (id == 0) {  // stream ids used up, or the codec refused it
    retiring_ = true;
    return false;
  }
  call.conn = shared_from_this();
  call.id = id;
  calls_.emplace_back(id, &call);
  ++conn_->requests;
  if (max_requests_ && ++started_ >= max_requests_) retiring_ = true;
  signal();
  return true;
}

void h2_connection::more(h2_call& call) {
  if (!call.closed) codec_.resume(call.id);
  signal();
}

void h2_connection::consumed(h2_call& call, std::size_t n) {
  codec_.consume(call.id, n);
  signal();
}

void h2_connection::release(h2_call& call) noexcept {
  const auto it =
      std::find_if(calls_.begin(), calls_.end(), [&](const auto& e) { return e.second == &call; });
  if (it != calls_.end()) {
    calls_.erase(it);
    if (!dead_) codec_.reset(call.id, NGHTTP2_CANCEL);
    signal();
  }
  if (calls_.empty()) {
    idle_since = steady_clock::now();
    if (retiring_) close();
  }
  // Last: this may drop the final reference to the connection.
  const std::shared_ptr<h2_connection> keep = std::move(call.conn);
}

void h2_connection::retire() noexcept {
  retiring_ = true;
  if (calls_.empty()) close();
}

void h2_connection::close() noexcept {
  dead_ = true;
  boost::system::error_code ignored;
  conn_->socket.close(ignored);
  signal();
  fail_all();
}

void h2_connection::fail_all() noexcept {
  for (auto& [id, call] : calls_) {
    call->closed = true;
    if (!call->error) call->error = NGHTTP2_INTERNAL_ERROR;
    call->wake.cancel();
  }
  calls_.clear();
}

bool h2_connection::on_response_field(std::int32_t id, std::string_view name,
                                      std::string_view value) {
  h2_call* call = find(id);
  if (!call) return true;
  // Counted as the HTTP/1.1 head would be (`name: value` CRLF, the status
  // line for :status), so a cluster's limits mean the same on both.
  call->block_bytes += name.size() + value.size() + 4;
  if (!name.starts_with(':')) ++call->block_fields;
  if (call->block_bytes > max_head_ || call->block_fields > max_fields_) {
    call->over_limit = true;
    return false;  // the stream is reset; the connection serves on
  }
  if (name == ":status") {
    int status = 0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), status);
    if (r.ec != std::errc() || r.ptr != value.data() + value.size() || status < 100 || status > 999)
      return false;
    call->block_status = status;
    return true;
  }
  if (!name.starts_with(':')) call->block.add(name, value);
  return true;
}

void h2_connection::on_response_block(std::int32_t id, bool end) {
  h2_call* call = find(id);
  if (!call) return;
  if (call->block_status >= 200) {
    call->status = call->block_status;
    std::swap(call->head, call->block);
  } else if (call->block_status >= 100) {
    // An interim head; one not forwarded yet gives way to the newer one.
    call->interim_status = call->block_status;
    std::swap(call->interim, call->block);
  } else if (call->status) {
    std::swap(call->trailers, call->block);
  } else {
    codec_.reset(id, NGHTTP2_PROTOCOL_ERROR);  // fields before any :status
  }
  call->block.clear();
  call->block_status = 0;
  call->block_bytes = 0;
  call->block_fields = 0;
  if (end) call->in_end = true;
  call->wake.cancel();
}

void h2_connection::on_response_data(std::int32_t id, std::string_view data) {
  if (h2_call* call = find(id)) {
    call->in.append(data);
    call->wake.cancel();
  } else {
    codec_.consume(id, data.size());  // the connection's window only
  }
}

void h2_connection::on_response_end(std::int32_t id) {
  if (h2_call* call = find(id)) {
    call->in_end = true;
    call->wake.cancel();
  }
}

void h2_connection::on_stream_close(std::int32_t id, std::uint32_t error) {
  const auto it =
      std::find_if(calls_.begin(), calls_.end(), [&](const auto& e) { return e.first == id; });
  if (it == calls_.end()) return;
  h2_call& call = *it->second;
  calls_.erase(it);
  call.closed = true;
  call.error = error;
  // RFC 9113 §8.7: a stream the server refused was not processed.
  if (error == NGHTTP2_REFUSED_STREAM && !call.answered()) call.refused = true;
  call.wake.cancel();
  if (calls_.empty()) {
    idle_since = steady_clock::now();
    if (retiring_) close();
  }
}

void h2_connection::on_goaway(std::int32_t last_id, std::uint32_t) {
  // No new stream goes on it; the ones past `last_id` were not processed
  // and may go again on another connection (RFC 9113 §6.8).
  retiring_ = true;
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->first > last_id) {
      h2_call& call = *it->second;
      call.closed = true;
      call.error = NGHTTP2_REFUSED_STREAM;
      call.refused = !call.answered();
      call.wake.cancel();
      it = calls_.erase(it);
    } else {
      ++it;
    }
  }
  if (calls_.empty()) close();
}

h2_connection::read_result h2_connection::read_request(std::int32_t id, char* out,
                                                       std::size_t room) {
  read_result r;
  h2_call* call = find(id);
  if (!call) {
    r.end = true;
    return r;
  }
  const std::size_t n = std::min(room, call->out.size() - call->out_at);
  std::memcpy(out, call->out.data() + call->out_at, n);
  call->out_at += n;
  if (call->out_at == call->out.size()) {
    call->out.clear();
    call->out_at = 0;
  }
  r.size = n;
  r.end = call->out_end && call->out.empty();
  r.later = !r.end && n == 0;
  call->wake.cancel();  // room for more
  return r;
}

std::span<const http::header> h2_connection::request_trailers(std::int32_t id) {
  h2_call* call = find(id);
  return call ? std::span<const http::header>(call->out_trailers) : std::span<const http::header>();
}

asio::awaitable<void> h2_connection::read_loop(std::shared_ptr<h2_connection> keep) {
  in_buf_.resize(read_size);
  while (!dead_) {
    const asio::mutable_buffer into(in_buf_.data(), in_buf_.size());
    auto [ec, n] = conn_->tls ? co_await conn_->tls->read_some(into)
                              : co_await recv_some(conn_->socket, into, conn_->reads);
    if (ec) break;
    last_heard_ = steady_clock::now();
    const bool ok = codec_.receive(std::string_view(in_buf_.data(), n));
    signal();
    if (!ok || (!codec_.want_read() && !codec_.want_write())) break;
  }
  // The upstream went or broke the protocol: what is queued (a GOAWAY) may
  // still go; the writer closes the socket.
  retiring_ = true;
  dead_ = true;
  fail_all();
  signal();
  (void)keep;
}

asio::awaitable<void> h2_connection::write_loop(std::shared_ptr<h2_connection> keep) {
  for (;;) {
    out_.clear();
    if (codec_.pending(out_, write_batch)) {
      boost::system::error_code ec;
      if (conn_->tls) {
        const asio::const_buffer b(out_.data(), out_.size());
        std::tie(ec, std::ignore) = co_await conn_->tls->write(std::span(&b, 1));
      } else {
        conn_->reads.wrote = true;
        std::tie(ec, std::ignore) =
            co_await asio::async_write(conn_->socket, asio::buffer(out_), use_tuple);
      }
      if (ec) break;
      continue;
    }
    if (dead_) break;
    wake_writer_.expires_at(steady_clock::time_point::max());
    co_await wake_writer_.async_wait(use_tuple);
  }
  dead_ = true;
  boost::system::error_code ignored;
  conn_->socket.close(ignored);  // the reader stops too
  fail_all();
  (void)keep;
}

}  // namespace gateway
