// Where a stream drives its request's filter chain: starting it, running
// each phase with pauses, buffering a body for filters that want it whole,
// relaying a response body through the body filters, and sending a filter's
// local reply. Requests whose rule has no filters never come here.
#include <cstring>

#include "http1/head_text.hpp"
#include "server/connection.hpp"
#include "server/worker.hpp"
#include "stream/stream.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
bool bodyless_status(int status) {
  return status == 204 || status == 304;
}
}  // namespace

asio::awaitable<filter_status> stream::run_chain(chain_phase p) {
  const bool request_side = p == chain_phase::request || p == chain_phase::request_body;
  std::size_t from = request_side ? 0 : filters_.response_start();
  for (;;) {
    chain_step step;
    switch (p) {
      case chain_phase::request:
        step = filters_.run_request(from);
        break;
      case chain_phase::request_body:
        step = filters_.run_request_body(from, chain_data_, chain_end_);
        break;
      case chain_phase::response:
        step = filters_.run_response(from, chain_status_, *chain_fields_);
        break;
      case chain_phase::response_body:
        step = filters_.run_response_body(from, chain_chunk_);
        break;
      case chain_phase::response_trailers:
        step = filters_.run_response_trailers(from, response_trailers_);
        break;
    }
    if (step.status != filter_status::pause) {
      ++pause_generation_;  // a handle taken by a hook that did not pause wakes nothing
      co_return step.status;
    }
    filter_status resumed = filter_status::pause;
    while (resumed == filter_status::pause) {
      if (!co_await wait_resume()) {
        filters_.resume_timed_out(step.at);
        co_return filter_status::stop;
      }
      resumed = filters_.run_resumed(step.at);
    }
    ++pause_generation_;
    if (resumed == filter_status::stop) co_return resumed;
    // The paused filter is done; the chain goes on after it.
    from = request_side ? step.at + 1 : step.at;
  }
}

asio::awaitable<bool> stream::wait_resume() {
  const auto limit =
      request_timeout_.count() > 0 ? request_timeout_ : listener_->config.limits.request_timeout;
  watch_->arm(transport::deadline_phase::upstream, limit);
  while (!resumed_ && !watch_->expired() && !gone()) {
    resume_timer_.expires_at(steady_clock::time_point::max());
    co_await resume_timer_.async_wait(use_tuple);
  }
  const bool ok = resumed_ && !gone();
  resumed_ = false;
  ++pause_generation_;
  watch_->disarm();
  co_return ok;
}

asio::awaitable<bool> stream::start_filters() {
  chain_request rq;
  rq.method = request_.method;
  rq.path = route_path_;
  rq.query = request_.query;
  rq.host = request_.host;
  rq.client_ip = client_view();
  rq.request_id = request_id();
  rq.listener = listener_->config.name;
  rq.matched_route = record_.matched_route;
  rq.matched_rule = rule_;
  rq.target = request_.target;
  rq.protocol = down_->protocol;
  if (down_->https) {
    rq.scheme = "https";
    if (down_->tls) rq.tls = &down_->tls->info();
  }
  rq.client_port = down_->client_port;
  const auto [local_ip, local_port] = down_->local_address();
  rq.local_ip = local_ip;
  rq.local_port = local_port;
  if (!filters_.begin(listener_->config.filters, rule_->filters, rq, request_.headers))
    co_return false;
  if (!(filters_.hooks() & hook_request)) co_return true;
  co_return co_await run_chain(chain_phase::request) == filter_status::next;
}

void stream::drop_client() noexcept {
  filters_.clear_reply();
  record_.status = 0;
  down_->drop();
}

asio::awaitable<void> stream::filter_reply(bool close) {
  // A filter that dropped the connection gets no answer sent (local_reply checks).
  const int status = take_filter_reply();
  co_await local_reply(status, filter_reply_body_, close, {}, filter_reply_fields_);
}

asio::awaitable<bool> stream::buffer_body_for_filters() {
  const std::uint64_t limit = filters_.body_buffer_limit();
  // Past the limit: 413, or (first_part) the filters see the first `limit`
  // bytes and the rest streams upstream after them.
  const bool first_part = filters_.body_overflow_action() == body_overflow::first_part;
  if (!request_chunked_ && request_length_ > limit && !first_part) {
    co_await local_reply(413, "request body too large\n", true);
    co_return false;
  }
  // Room for the whole body (and, chunked, its framing) in the buffer.
  const std::size_t room = static_cast<std::size_t>(
      request_chunked_ ? limit + limit / 8 + 64 * 1024 : std::min(request_length_, limit) + 1);
  body_view v;
  for (;;) {
    pieces_.clear();
    v = down_->peek_body(pieces_);
    if (v.error) {
      co_await local_reply(400, "malformed request body\n", true);
      co_return false;
    }
    if (v.end || v.bytes >= limit) break;
    const body_read r = co_await down_->read_body(room);
    if (r == body_read::gone) co_return false;
    if (r == body_read::late) {
      co_await refuse_body(send_result::client_late);
      co_return false;
    }
    if (r == body_read::full) {
      if (first_part && v.bytes > 0) break;  // framing filled the room
      co_await local_reply(413, "request body too large\n", true);
      co_return false;
    }
  }
  watch_->disarm();
  chain_end_ = v.end && v.bytes <= limit;
  if (v.bytes > limit && !first_part) {
    co_await local_reply(413, "request body too large\n", true);
    co_return false;
  }
  // One piece is seen where it lies; several are joined (a chunked body).
  const auto wanted = static_cast<std::size_t>(std::min(v.bytes, limit));
  if (v.count == 1) {
    chain_data_ = std::string_view(static_cast<const char*>(pieces_[0].data()), wanted);
  } else {
    filter_body_.clear();
    for (const asio::const_buffer& b : pieces_) {
      if (filter_body_.size() >= wanted) break;
      filter_body_.append(static_cast<const char*>(b.data()),
                          std::min(b.size(), wanted - filter_body_.size()));
    }
    chain_data_ = filter_body_;
  }
  body_seen_by_filters_ = true;
  if (!(filters_.hooks() & hook_request_body)) co_return true;
  if (co_await run_chain(chain_phase::request_body) == filter_status::next) co_return true;
  co_await filter_reply(true);
  co_return false;
}

asio::awaitable<bool> stream::relay_filtered(std::uint64_t limit) {
  upstream_link& link = *link_;
  const bool bodyless = is_head_request_ || bodyless_status(response_.status);
  link.start_body(response_, bodyless);
  // Filters that change the body's length removed Content-Length; the
  // client's codec then frames the body its own way.
  const bool keep_length = response_.has_content_length && !grpc_web_ &&
                           http::find_header(response_.headers, "content-length");
  const std::uint64_t upstream_length = response_.content_length;
  start_response(keep_length);
  record_.status = response_.status;
  if (grpc_) note_grpc_status(response_.headers);
  if (bodyless) {
    pieces_.clear();
    link.take(pieces_);  // the body's (empty) end: the connection may serve again
    co_return co_await down_->send(true);
  }

  if (limit && response_.has_content_length && upstream_length > limit)
    co_return response_body_over(true, limit);
  std::uint64_t sent_body = 0, relayed = 0;
  bool head_sent = false;
  bool upstream_body = false;  // any body bytes came
  // A filter that asked for it gets the body's first part (or all of it) in
  // one piece before anything, the head included, goes to the client.
  std::uint64_t hold = filters_.response_hold();
  response_hold_.clear();
  for (;;) {
    pieces_.clear();
    const upstream_link::body_step step = link.take(pieces_);
    if (step.error) {
      unusable_body_ = !head_sent;  // nothing sent yet: the client gets a 502 instead
      if (unusable_body_) log_unusable("body");
      co_return false;
    }
    if (limit && (relayed += step.bytes) > limit) co_return response_body_over(!head_sent, limit);
    if (step.bytes == 0 && !step.end) {
      if (!co_await link.fill()) co_return false;
      continue;
    }
    upstream_body = upstream_body || step.bytes != 0;
    // Each piece through the chain; the last one carries the body's end.
    const std::size_t count = std::max<std::size_t>(pieces_.size(), 1);
    for (std::size_t i = 0; i < count; ++i) {
      std::string_view piece;
      if (i < pieces_.size())
        piece = {static_cast<const char*>(pieces_[i].data()), pieces_[i].size()};
      const bool end = step.end && i + 1 == count;
      if (hold) {
        response_hold_.append(piece);
        if (!end && response_hold_.size() < hold) continue;
        hold = 0;
        piece = response_hold_;
      }
      chain_chunk_ = {piece, end};
      if (co_await run_chain(chain_phase::response_body) == filter_status::stop) {
        if (head_sent) co_return false;  // too late for another answer: cut it short
        replying_after_response_ = true;
        co_await filter_reply(true);
        co_return false;
      }
      const std::string_view out = chain_chunk_.data;
      sent_body += out.size();
      if (keep_length && sent_body > upstream_length)
        co_return false;  // a filter broke its promise
      if (!out.empty()) {
        asio::const_buffer b(out.data(), out.size());
        if (grpc_web_text_) b = web_text(std::span(&b, 1), false);
        down_->send_body(std::span(&b, 1), b.size());
      }
      if (end) {  // the trailers (gRPC's status) go on after the filtered body
        take_response_trailers();
        // A response that ended with its head (no body, no trailers: a gRPC
        // Trailers-Only answer) has no trailers to see or add to.
        if ((filters_.hooks() & hook_response_trailers) &&
            (upstream_body || !response_trailers_.empty()) &&
            co_await run_chain(chain_phase::response_trailers) == filter_status::stop)
          co_return false;  // too late for another answer: cut it short
        end_response_trailers();
      }
      if (!out.empty() || end || !head_sent) {
        if (!co_await down_->send(end, end ? std::span<const http::header>(response_trailers_)
                                           : std::span<const http::header>()))
          co_return false;
        head_sent = true;
      }
    }
    if (step.end) break;
  }
  co_return !keep_length || sent_body == upstream_length;
}

}  // namespace gateway
