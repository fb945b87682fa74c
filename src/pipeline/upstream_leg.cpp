// The upstream side of one request: pick and connect (or reuse) an upstream
// connection, forward the head and stream the body (the response's way back
// is upstream_response.cpp's). Bodies move through the two fixed connection
// buffers, so memory stays flat whatever their size.
#include <algorithm>
#include <charconv>

#include "http1/serializer.hpp"
#include "pipeline/request_steps.hpp"
#include "pipeline/route_filters.hpp"
#include "server/connection.hpp"
#include "server/worker.hpp"
#include "upstream/h2_connection.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
constexpr std::size_t stream_buffer_limit = 64 * 1024;
// Room for a typical response (head and a body of tens of KiB) in one read, so
// it also leaves in one write: fewer syscalls and wake-ups than 16 KiB slices.
constexpr std::size_t upstream_buffer = 64 * 1024;
}  // namespace

void stream::build_upstream_head(std::string_view path, std::string_view matched_prefix,
                                 const re2::RE2* path_regex) {
  upstream_head_input in;
  in.request = &request_;
  in.path = path;
  in.query_replaced = query_replaced_;
  in.matched_prefix = matched_prefix;
  in.path_regex = path_regex;
  in.rule = rule_;
  in.listener = &listener_->config;
  in.https = down_.https;
  in.tls = down_.tls;
  in.client_ip = down_.client_ip;
  if (request_id_generated_) in.generated_request_id = request_id();
  write_upstream_head(head_out_, upstream_request_, in);
}

asio::awaitable<stream::outcome> stream::exchange(std::size_t cluster, bool& body_done,
                                                  std::uint32_t* retries_left) {
  connection_pool& pool = worker_.pool();
  bool replayable = true;
  const bool idempotent = method_retriable_;
  up_.clear();
  up_.reserve(upstream_buffer);
  cluster_state& cs = *down_.snap->clusters[cluster].state;
  const circuit_breaker_config& limits = cs.config().circuit_breakers;

  // Requests in flight, all workers (the max_requests breaker and the retry
  // budget read it); counted while this try runs.
  struct in_flight {
    std::atomic<std::uint32_t>& n;
    std::uint32_t before;
    explicit in_flight(std::atomic<std::uint32_t>& c)
        : n(c), before(c.fetch_add(1, std::memory_order_relaxed)) {}
    ~in_flight() { n.fetch_sub(1, std::memory_order_relaxed); }
  } requests(cs.requests);
  if (requests.before >= limits.max_requests) {
    cs.overflow_requests.fetch_add(1, std::memory_order_relaxed);
    overflow_ = "requests";
    co_return outcome::overflow;
  }
  // Counted as active while this exchange holds an upstream connection.
  struct active_count {
    std::size_t& n;
    explicit active_count(std::size_t& c) : n(++c) {}
    ~active_count() { --n; }
  } active(worker_.upstream_active);
  const bool h2 = cs.config().protocol == upstream_protocol::http2;
  if (h2 && !h2_) h2_ = std::make_unique<h2_call>(executor_);
  std::shared_ptr<h2_connection> shared;  // the HTTP/2 connection of the try
  for (int attempt = 0;; ++attempt) {
    // An endpoint, and a pooled connection to it (HTTP/2: one with room for
    // a stream) or room for a new one under the connection limits. Without
    // room the request is pending: it polls for room (a connection closing
    // or a stream ending on any worker) until the connect timeout.
    std::size_t host = 0;
    endpoint_state* chosen = nullptr;
    steady_clock::time_point pending_until{};
    const steady_clock::time_point opening_until = coarse_now() + cs.config().connect_timeout;
    for (;;) {
      const auto now = coarse_now();  // one clock read for the pick and the pool
      host = pool.pick(*down_.snap, cluster, pick_, now);
      if (host == ~std::size_t{0}) {
        if (pending_until != steady_clock::time_point{}) cs.pending.fetch_sub(1);
        co_return outcome::no_endpoint;
      }
      chosen = pool.endpoint(*down_.snap, cluster, host).get();
      if (h2) {
        shared = pool.take_shared(*down_.snap, cluster, host);
        // Another request of this worker is opening a connection there:
        // its streams will have room for this one too.
        if (!shared && pool.is_opening(*chosen) && coarse_now() < opening_until) {
          co_await pause(std::chrono::milliseconds(1));
          continue;
        }
      } else
        upstream_ = attempt == 0 ? pool.take(*down_.snap, cluster, host, now) : nullptr;
      if (upstream_ || shared || connection_room(cs, *chosen)) break;
      if (pending_until == steady_clock::time_point{}) {
        if (cs.pending.fetch_add(1, std::memory_order_relaxed) >= limits.max_pending_requests) {
          cs.pending.fetch_sub(1, std::memory_order_relaxed);
          cs.overflow_pending.fetch_add(1, std::memory_order_relaxed);
          overflow_ = "pending";
          co_return outcome::overflow;
        }
        pending_until = coarse_now() + cs.config().connect_timeout;
      } else if (coarse_now() >= pending_until || down_.forced) {
        cs.pending.fetch_sub(1, std::memory_order_relaxed);
        cs.overflow_connections.fetch_add(1, std::memory_order_relaxed);
        overflow_ = "connections";
        co_return down_.forced ? outcome::client_gone : outcome::overflow;
      }
      co_await pause(std::chrono::milliseconds(2));
    }
    if (pending_until != steady_clock::time_point{}) cs.pending.fetch_sub(1);
    endpoint_state& ep = *chosen;
    last_endpoint_ = &ep;
    record_.upstream_used = true;
    record_.upstream_address = ep.address;
    const bool reused = upstream_ != nullptr || shared != nullptr;
    if (!reused) {
      if (h2) pool.start_opening(ep);
      const bool opened = co_await open_upstream(cs, ep, cluster, host);
      if (h2) pool.end_opening(ep);
      if (!opened) {
        replayable_ = true;  // nothing reached the upstream
        co_return down_.forced ? outcome::client_gone : outcome::connect_failed;
      }
    }
    if (h2) {
      if (!shared) {
        active_upstream_ = nullptr;
        shared = pool.share(*down_.snap, cluster, host, std::move(upstream_));
      }
      h2_->reset();
      h2_->conn = std::move(shared);  // begin_h2 starts the stream on it
      on_h2_ = true;
    } else {
      active_upstream_ = upstream_.get();
      ++upstream_->requests;
    }
    ++worker_.protocols().upstream[h2 ? 1 : 0];
    endpoint_active_ = cs.config().load_balancer.policy == lb_policy::least_request ? &ep : nullptr;
    if (endpoint_active_) endpoint_active_->active.fetch_add(1, std::memory_order_relaxed);

    send_result sent = co_await send_request_body(body_done, replayable);
    if (sent == send_result::client_error || sent == send_result::too_large ||
        sent == send_result::bad_framing || sent == send_result::filtered) {
      active_upstream_ = nullptr;
      end_endpoint_request();  // before the connection that may hold the endpoint's last reference
      upstream_.reset();
      release_h2();
      if (sent == send_result::filtered) co_return outcome::filter_reply;
      if (sent == send_result::too_large) {
        co_await local_reply(413, "request body too large\n", true);
        co_return outcome::client_gone;
      }
      co_return sent == send_result::bad_framing ? outcome::client_failed : outcome::client_gone;
    }
    // After an upstream write error the upstream may still have answered early.
    // The request timeout runs from when the first try has sent the whole
    // request (an upload's length is not the upstream's delay); one try waits
    // its own timeout, and never past the request's deadline.
    if (request_deadline_ == steady_clock::time_point{})
      request_deadline_ = coarse_now() + request_timeout_;
    watch_.arm(
        transport::deadline_phase::upstream,
        std::max(std::chrono::milliseconds(1),
                 std::min(try_timeout_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                            request_deadline_ - coarse_now()))));
    response_started_ = false;
    const auto sent_at = steady_clock::now();
    const bool answered = co_await read_response_head();
    record_.upstream_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - sent_at)
            .count());
    end_endpoint_request();
    if (answered) {
      upstream_connection* link = on_h2_ ? &h2_->conn->link() : upstream_.get();
      if (link->tls && link->requests == 1) pool.remember_session(*link);
      break;
    }

    const bool timed_out = watch_.expired();
    active_upstream_ = nullptr;
    // The endpoint outlives its connection here: DNS may have dropped it
    // meanwhile, and it is still to be reported below.
    const std::shared_ptr<endpoint_state> failed =
        on_h2_ ? h2_->conn->link().endpoint : upstream_->endpoint;
    // A shared connection that said nothing at all while this try waited
    // out its timeout is likely dead (an upstream that stopped reading, a
    // path that drops packets): no new stream goes on it.
    if (timed_out && on_h2_ && h2_->conn && h2_->conn->silent_since(sent_at)) {
      worker_.log().log(log_level::warn, "upstream ", cs.config().name, " ", ep.name,
                        ": HTTP/2 connection silent through a request's timeout, retired [request ",
                        request_id(), "]");
      h2_->conn->retire();
    }
    const bool refused = on_h2_ && h2_->refused;
    const std::uint32_t reset_code = on_h2_ ? h2_->error : 0;
    upstream_.reset();
    release_h2();
    up_.clear();
    replayable_ = replayable && idempotent && !response_started_;
    if (gone() && !timed_out) co_return outcome::client_gone;  // not the upstream's doing
    const bool replay_allowed = !retries_left || *retries_left > 0;
    // An HTTP/2 stream the upstream refused (RST_STREAM REFUSED_STREAM, or
    // past its GOAWAY) was not processed: it goes again on another
    // connection whatever its method, while its body can be sent again.
    if (!timed_out && refused && replayable && attempt < 3 && replay_allowed) {
      if (retries_left) --*retries_left;
      replayable_ = replayable;
      worker_.log().log(log_level::debug, "upstream ", cs.config().name,
                        ": stream refused (GOAWAY or REFUSED_STREAM), sending it again [request ",
                        request_id(), "]");
      continue;
    }
    // A pooled connection the upstream closed just as we used it: try once more
    // on a fresh one when the request can be sent again safely. Not the
    // endpoint's fault, so not an outlier; but the upstream did see a try, so
    // under a retry policy it is one of the policy's (none left: no replay).
    if (!timed_out && attempt == 0 && reused && !response_started_ && replayable &&
        (idempotent || sent == send_result::upstream_error) && replay_allowed) {
      if (retries_left) --*retries_left;
      worker_.log().log(log_level::debug, "upstream ", cs.config().name,
                        ": pooled connection closed, retrying [request ", request_id(), "]");
      continue;
    }
    // Bytes that do not parse as a head on a reused connection are most likely
    // left over from its previous answer (a body sent after a HEAD response,
    // say): an idempotent request goes once more on a fresh connection.
    if (!timed_out && attempt == 0 && reused && invalid_response_ && replayable && idempotent &&
        replay_allowed) {
      if (retries_left) --*retries_left;
      worker_.log().log(log_level::warn, "upstream ", cs.config().name,
                        ": stray bytes on a pooled connection, retrying [request ", request_id(),
                        "]");
      continue;
    }
    cs.report(ep, upstream_result::local_failure, worker_.log());
    if (timed_out) co_return outcome::timeout;
    if (reset_code)
      worker_.log().log(log_level::warn, "upstream ", cs.config().name, " ", ep.name,
                        ": stream reset (HTTP/2 error ", reset_code,
                        ") before a response [request ", request_id(), "]");
    else if (!invalid_response_)
      worker_.log().log(log_level::warn, "upstream ", cs.config().name, " ", ep.name,
                        ": connection closed before a response [request ", request_id(), "]");
    co_return outcome::upstream_failed;
  }
  {
    const int status = response_.status;
    cs.report(*last_endpoint_,
              status < 500                                      ? upstream_result::success
              : status == 502 || status == 503 || status == 504 ? upstream_result::gateway_error
                                                                : upstream_result::server_error,
              worker_.log());
  }
  replayable_ = replayable && idempotent;
  // A status the rule retries: drop this answer unread (its connection with it)
  // while the request can still be sent again.
  if (retries_left && *retries_left > 0 && replayable_ && body_done &&
      retries_status(rule_ && rule_->retry ? &*rule_->retry : nullptr, response_.status) &&
      retry_room(cs, cs.retries.load(std::memory_order_relaxed))) {
    active_upstream_ = nullptr;
    upstream_.reset();
    release_h2();
    up_.clear();
    co_return outcome::retry_status;
  }
  if (!body_done) down_.end_after_response();  // upstream answered before reading it all

  if (filters_.active() && (filters_.hooks() & hook_response)) {
    chain_fields_ = &response_.headers;
    chain_status_ = response_.status;
    if (co_await run_chain(chain_phase::response) == filter_status::stop) {
      // A filter answers instead; the upstream's answer is dropped unread.
      active_upstream_ = nullptr;
      upstream_.reset();
      release_h2();
      up_.clear();
      replying_after_response_ = true;
      co_return outcome::filter_reply;
    }
  }
  bool reusable = false;
  bool complete = filters_.active() && (filters_.hooks() & hook_response_body)
                      ? co_await relay_filtered(reusable)
                      : co_await relay_response(reusable);
  active_upstream_ = nullptr;
  release_h2();
  if (complete && reusable && upstream_ && !worker_.draining())
    pool.give_back(std::move(upstream_), coarse_now());
  else
    upstream_.reset();
  up_.clear();
  if (!complete) down_.end_after_response();
  watch_.disarm();
  co_return outcome::ok;
}

asio::awaitable<bool> stream::open_upstream(cluster_state& cs, endpoint_state& ep,
                                            std::size_t cluster, std::size_t host) {
  connection_pool& pool = worker_.pool();
  upstream_ = pool.fresh(*down_.snap, cluster, host);
  active_upstream_ = upstream_.get();
  watch_.arm(transport::deadline_phase::upstream, cs.config().connect_timeout);
  auto [ec] = co_await upstream_->socket.async_connect(ep.address, use_tuple);
  const char* step = "connect";
  if (!ec) {
    boost::system::error_code ignored;
    upstream_->socket.set_option(tcp::no_delay(true), ignored);
    upstream_->socket.non_blocking(true, ignored);  // for write_gather's immediate writes
    if (const auto& tls = down_.snap->clusters[cluster].tls) {
      // The handshake counts against the connect timeout too.
      upstream_->tls =
          std::make_unique<tls::stream>(*tls, upstream_->socket, ep.hostname, ep.address.address());
      upstream_->tls->offer(pool.session(*down_.snap, cluster, host));
      ec = co_await upstream_->tls->handshake();
      step = "TLS handshake";
      // HTTP/2 over TLS is only spoken when the upstream agreed to it.
      if (!ec && cs.config().protocol == upstream_protocol::http2 &&
          upstream_->tls->alpn() != "h2") {
        ec = asio::error::no_protocol_option;
        step = "ALPN";
      }
    }
  }
  if (!ec) co_return true;
  if (worker_.log().enabled(log_level::warn)) {
    const std::string why = watch_.expired() ? "timed out"
                            : ec == asio::error::no_protocol_option
                                ? "failed: the upstream did not agree to h2"
                            : upstream_->tls ? "failed: " + upstream_->tls->why(ec)
                                             : "failed: " + ec.message();
    worker_.log().log(log_level::warn, "upstream ", cs.config().name, " ", ep.name, ": ", step, " ",
                      why, " [request ", request_id(), "]");
  }
  active_upstream_ = nullptr;
  if (!down_.forced) cs.report(ep, upstream_result::local_failure, worker_.log());
  upstream_.reset();
  co_return false;
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> stream::upstream_read(
    upstream_connection& up, asio::mutable_buffer into) {
  // Not a coroutine: plain TCP reads cost no extra frame.
  if (up.tls) return up.tls->read_some(into);
  return up.socket.async_read_some(into, use_tuple);
}

asio::awaitable<bool> stream::send_gather_tls(tls::stream& stream) {
  auto [ec, n] = co_await stream.write(gather_);
  gather_.clear();
  co_return !ec;
}

asio::awaitable<bool> stream::flush_request(bool end, std::span<const http::header> trailers) {
  // Not a coroutine: the write costs the frame of the one it hands over.
  if (on_h2_) return send_h2(end, trailers);
  if (upstream_->tls) return send_gather_tls(*upstream_->tls);
  return flush_upstream(upstream_->socket);
}

asio::awaitable<stream::send_result> stream::send_request_body(bool& body_done, bool& replayable) {
  gather_.clear();
  if (on_h2_) {
    if (!begin_h2(!body_done || pending_body_)) co_return send_result::upstream_error;
  } else {
    gather_.emplace_back(head_out_.data(), head_out_.size());
  }
  auto piece = [](const asio::const_buffer& b) {
    return std::string_view(static_cast<const char*>(b.data()), b.size());
  };
  if (pending_body_) {
    // A replay (a retry on another connection): the whole body is still
    // unreleased downstream, where the first try left it.
    const body_view v = down_.peek_body(gather_);
    co_return co_await flush_request(true, v.trailers) ? send_result::ok
                                                       : send_result::upstream_error;
  }
  if (body_done)
    co_return co_await flush_request(true) ? send_result::ok : send_result::upstream_error;
  // Body filters see each piece before it leaves (unless they had it whole).
  const bool body_filters =
      filters_.active() && (filters_.hooks() & hook_request_body) && !body_seen_by_filters_;
  auto inspect = [&](std::string_view data, bool end) -> asio::awaitable<bool> {
    chain_data_ = data;
    chain_end_ = end;
    co_return co_await run_chain(chain_phase::request_body) == filter_status::next;
  };

  if (!request_chunked_) {
    // A rule that retries reads a body up to its buffer limit whole first.
    if (replayable && rule_ && rule_->retry && request_length_ <= rule_->retry->buffer_limit) {
      const auto whole = static_cast<std::size_t>(request_length_);
      for (;;) {
        pieces_.clear();
        if (down_.peek_body(pieces_).end) break;
        if (co_await down_.read_body(std::max(stream_buffer_limit, whole + 1)) != body_read::ok)
          co_return send_result::client_error;
      }
    }
    // A body that is already complete downstream is sent without being
    // released, so a retry on a fresh connection can send it again.
    body_view v = down_.peek_body(gather_);
    if (replayable && v.end) {
      if (body_filters && !co_await inspect(v.count ? piece(gather_.back()) : "", true))
        co_return send_result::filtered;
      pending_body_ = true;
      body_done = true;
      co_return co_await flush_request(true, v.trailers) ? send_result::ok
                                                         : send_result::upstream_error;
    }
    replayable = false;
    for (;;) {
      if (v.count && body_filters && !co_await inspect(piece(gather_.back()), v.end))
        co_return send_result::filtered;
      if ((!gather_.empty() || v.end) && !co_await flush_request(v.end, v.trailers))
        co_return send_result::upstream_error;
      down_.release_body();
      if (v.end) break;
      if (co_await down_.read_body(stream_buffer_limit) != body_read::ok)
        co_return send_result::client_error;
      v = down_.peek_body(gather_);
    }
    body_done = true;
    co_return send_result::ok;
  }

  // Chunked: decoded strictly downstream; the data of each read goes on as
  // one chunk (HTTP/2: as DATA, which needs no framing of ours).
  replayable = false;
  std::uint64_t total = 0;
  for (;;) {
    pieces_.clear();
    const body_view v = down_.peek_body(pieces_);
    if (v.error) co_return send_result::bad_framing;
    total += v.bytes;
    if (max_request_body_ && total > max_request_body_) co_return send_result::too_large;
    if (body_filters) {
      for (std::size_t i = 0; i < v.count; ++i)
        if (!co_await inspect(piece(pieces_[i]), v.end && i + 1 == v.count))
          co_return send_result::filtered;
      if (v.end && v.count == 0 && !co_await inspect({}, true)) co_return send_result::filtered;
    }
    if (on_h2_) {
      gather_.insert(gather_.end(), pieces_.begin(), pieces_.end());
    } else {
      request_framer_.chunk(pieces_, v.bytes, gather_);
      if (v.end) request_framer_.end(v.trailers, gather_);
    }
    if ((!gather_.empty() || v.end) && !co_await flush_request(v.end, v.trailers))
      co_return send_result::upstream_error;
    down_.release_body();
    if (v.end) break;
    if (co_await down_.read_body(stream_buffer_limit) != body_read::ok)
      co_return send_result::client_error;
  }
  body_done = true;
  co_return send_result::ok;
}

asio::awaitable<bool> stream::flush_upstream(tcp::socket& socket) {
  // Not a coroutine: the write costs one frame, write_gather's.
  return transport::write_gather(socket, gather_, watch_,
                                 listener_->config.limits.stream_idle_timeout, nullptr);
}

}  // namespace gateway
