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
    }
    if (step.status != filter_status::pause) {
      ++pause_generation_;  // a handle taken by a hook that did not pause wakes nothing
      co_return step.status;
    }
    filter_status resumed = filter_status::pause;
    while (resumed == filter_status::pause) {
      if (!co_await wait_resume()) {
        filters_.send_local_reply(504, "a filter did not resume the request in time\n", {});
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
  const auto limit = request_timeout_.count() > 0
                         ? request_timeout_
                         : conn_.listener_rt_->config.limits.request_timeout;
  watch_.arm(transport::deadline_phase::upstream, limit);
  while (!resumed_ && !watch_.expired() && conn_.open_ && !conn_.force_closed_) {
    resume_timer_.expires_at(steady_clock::time_point::max());
    co_await resume_timer_.async_wait(use_tuple);
  }
  const bool ok = resumed_ && conn_.open_ && !conn_.force_closed_;
  resumed_ = false;
  ++pause_generation_;
  watch_.disarm();
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
  rq.listener = conn_.listener_rt_->config.name;
  rq.matched_route = record_.matched_route;
  rq.matched_rule = rule_;
  rq.target = request_.target;
  rq.protocol = conn_.client_protocol();
  if (client_.tls()) {
    rq.scheme = "https";
    rq.tls = &client_.tls()->info();
  }
  rq.client_port = conn_.client_port_;
  conn_.learn_local_address();
  rq.local_ip = {conn_.local_ip_, conn_.local_ip_len_};
  rq.local_port = conn_.local_port_;
  if (!filters_.begin(conn_.listener_rt_->config.filters, rule_->filters, rq, request_.headers))
    co_return false;
  if (!(filters_.hooks() & hook_request)) co_return true;
  co_return co_await run_chain(chain_phase::request) == filter_status::next;
}

void stream::drop_client() noexcept {
  filters_.clear_reply();
  record_.status = 0;
  conn_.client_keep_alive_ = false;
  client_.reset();
  conn_.close();
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
  const listener_limits& limits = conn_.listener_rt_->config.limits;
  std::size_t scanned = 0;
  http1::chunked_decoder decoder;
  filter_body_.clear();
  chain_end_ = true;
  for (;;) {
    if (!request_chunked_) {
      if (request_body_left_ > limit && !first_part) {
        co_await local_reply(413, "request body too large\n", true);
        co_return false;
      }
      const std::uint64_t wanted = std::min(request_body_left_, limit);
      if (in_.size() >= wanted) {
        chain_data_ = in_.view().substr(0, static_cast<std::size_t>(wanted));
        chain_end_ = wanted == request_body_left_;
        break;
      }
    } else {
      bool done = false;
      while (scanned < in_.size() && !done && filter_body_.size() <= limit) {
        auto step = decoder.decode(in_.view().substr(scanned));
        if (step.error) {
          co_await local_reply(400, "malformed request body\n", true);
          co_return false;
        }
        scanned += step.consumed;
        filter_body_.append(step.data);
        done = step.done;
      }
      if (filter_body_.size() > limit) {
        if (!first_part) {
          co_await local_reply(413, "request body too large\n", true);
          co_return false;
        }
        chain_data_ = std::string_view(filter_body_).substr(0, static_cast<std::size_t>(limit));
        chain_end_ = false;
        break;
      }
      if (done) {
        chain_data_ = filter_body_;
        break;
      }
    }
    if (request_expect_continue_ && !sent_continue_) {
      sent_continue_ = true;
      asio::const_buffer b(http1::continue_response.data(), http1::continue_response.size());
      if (!co_await write_client(std::span(&b, 1))) co_return false;
    }
    // Room for the whole body (and, chunked, its framing) in the buffer.
    const std::size_t want = static_cast<std::size_t>(
        request_chunked_ ? limit + limit / 8 + 64 * 1024 : std::min(request_body_left_, limit) + 1);
    std::size_t room = 0;
    char* dst = in_.prepare(room, std::max(want, in_.capacity()));
    if (room == 0) {
      if (first_part && request_chunked_ && scanned > 0) {  // framing filled the room
        chain_data_ = filter_body_;
        chain_end_ = false;
        break;
      }
      co_await local_reply(413, "request body too large\n", true);
      co_return false;
    }
    watch_.arm(transport::deadline_phase::stream, limits.stream_idle_timeout);
    auto [ec, n] = co_await client_.read_some(asio::buffer(dst, room));
    record_.bytes_in += n;
    if (ec) co_return false;
    in_.commit(n);
  }
  watch_.disarm();
  body_seen_by_filters_ = true;
  if (!(filters_.hooks() & hook_request_body)) co_return true;
  if (co_await run_chain(chain_phase::request_body) == filter_status::next) co_return true;
  co_await filter_reply(true);
  co_return false;
}

asio::awaitable<bool> stream::relay_filtered(upstream_connection& up, bool& reusable) {
  const listener_limits& limits = conn_.listener_rt_->config.limits;
  enum class framing { none, length, chunked, until_close };
  const bool bodyless = is_head_request_ || bodyless_status(response_.status);
  const framing from_upstream = bodyless                       ? framing::none
                                : response_.chunked            ? framing::chunked
                                : response_.has_content_length ? framing::length
                                                               : framing::until_close;
  // Filters that change the body's length removed Content-Length; the client
  // then gets it chunked (or, for HTTP/1.0, delimited by the close).
  const bool keep_length =
      response_.has_content_length && http::find_header(response_.headers, "content-length");
  const std::uint64_t upstream_length = response_.content_length;
  const bool chunk_to_client = !bodyless && !keep_length && conn_.client_version_minor_ == 1;
  if (!bodyless && !keep_length && !chunk_to_client) conn_.client_keep_alive_ = false;
  if (worker_.draining()) conn_.client_keep_alive_ = false;
  reusable = from_upstream != framing::until_close && response_.wants_keep_alive();
  const bool had_length = response_.has_content_length;
  response_.has_content_length = keep_length;
  build_response_head(chunk_to_client, !conn_.client_keep_alive_);
  response_.has_content_length = had_length;
  record_.status = response_.status;
  up_.consume(response_.head_size);
  gather_.clear();
  gather_.emplace_back(head_out_.data(), head_out_.size());
  if (from_upstream == framing::none) {
    if (!up_.empty()) reusable = false;
    co_return co_await flush_client();
  }

  std::uint64_t left = upstream_length;  // for framing::length
  std::uint64_t sent_body = 0;
  response_chunks_.reset();
  bool head_sent = false;
  // A filter that asked for it gets the body's first part (or all of it) in
  // one piece before anything, the head included, goes to the client.
  std::uint64_t hold = filters_.response_hold();
  response_hold_.clear();
  for (;;) {
    // The next piece of the upstream body, and how much of up_ it used.
    std::string_view piece;
    std::size_t used = 0;
    bool end = false;
    if (from_upstream == framing::length) {
      used = static_cast<std::size_t>(std::min<std::uint64_t>(left, up_.size()));
      piece = up_.view().substr(0, used);
      left -= used;
      end = left == 0;
    } else if (from_upstream == framing::chunked) {
      auto step = response_chunks_.decode(up_.view());
      if (step.error) co_return false;
      used = step.consumed;
      piece = step.data;
      end = step.done;
    } else {
      used = up_.size();
      piece = up_.view();
    }
    if (piece.empty() && !end) {
      if (used) {  // framing only (a chunk size line)
        up_.consume(used);
        continue;
      }
      std::size_t room = 0;
      char* dst = up_.prepare(room, 64 * 1024);
      watch_.arm(transport::deadline_phase::stream, limits.stream_idle_timeout);
      auto [ec, n] = co_await upstream_read(up, asio::buffer(dst, room));
      if (ec) {
        if (from_upstream != framing::until_close || ec != asio::error::eof) co_return false;
        end = true;  // the close ends the body
      } else {
        up_.commit(n);
        continue;
      }
    }
    if (hold) {
      response_hold_.append(piece);
      up_.consume(used);
      used = 0;
      if (!end && response_hold_.size() < hold) continue;
      hold = 0;
      piece = response_hold_;
    }
    chain_chunk_ = {piece, end};
    if (co_await run_chain(chain_phase::response_body) == filter_status::stop) {
      if (head_sent) co_return false;  // too late for another answer: cut it short
      gather_.clear();
      reusable = false;
      replying_after_response_ = true;
      co_await filter_reply(true);
      co_return false;
    }
    const std::string_view out = chain_chunk_.data;
    sent_body += out.size();
    if (keep_length && sent_body > upstream_length) co_return false;  // a filter broke its promise
    if (!chunk_to_client) {
      if (!out.empty()) gather_.emplace_back(out.data(), out.size());
    } else {
      response_framer_.piece(out, gather_);
      if (end) http1::chunk_framer::end({}, gather_);
    }
    if (!gather_.empty()) {
      if (!co_await flush_client()) co_return false;
      head_sent = true;
    }
    up_.consume(used);
    if (end) break;
  }
  if (keep_length && sent_body != upstream_length) co_return false;
  if (!up_.empty()) reusable = false;
  co_return true;
}

}  // namespace gateway
