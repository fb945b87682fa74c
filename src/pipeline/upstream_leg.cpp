// The upstream side of one request: pick an endpoint, take a pooled
// connection or open one, and send the head and stream the body through the
// cluster's upstream_link (the response's way back is upstream_response.cpp's).
// The retry-free replays (a pooled connection closed under the request, a
// stream the upstream refused) are decided here; the retry policy's are in
// serve.cpp.
#include <algorithm>
#include <charconv>

#include "http1/serializer.hpp"
#include "middleware/host_link.hpp"
#include "pipeline/request_steps.hpp"
#include "pipeline/route_filters.hpp"
#include "server/connection.hpp"
#include "server/worker.hpp"
#include "upstream/h2_link.hpp"

namespace gateway {

using namespace std::string_view_literals;

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
  in.https = down_->https;
  in.tls = down_->tls;
  in.client_ip = down_->client_ip;
  if (request_id_generated_) in.generated_request_id = request_id();
  if (upgrading_) in.upgrade = request_.upgrade;
  if (trace_.on) in.traceparent = {trace_.traceparent, tracing::traceparent_size};
  write_upstream_head(head_out_, upstream_request_, in);
}

upstream_link::request stream::link_request(bool has_body, bool te_trailers) const noexcept {
  upstream_link::request r;
  r.method = upstream_request_.method;
  r.target = upstream_request_.target;
  r.fields = upstream_request_.fields;
  r.http1_head = head_out_;
  r.has_body = has_body;
  r.chunked = request_chunked_;
  r.length = request_length_;
  if (te_trailers && grpc_web_) r.te_trailers = true;  // gRPC needs it; gRPC-Web clients omit it
  if (te_trailers && !r.te_trailers)
    for (const http::header& h : request_.headers)
      if (http::iequals(h.name, "te") && http1::lists_token(h.value, "trailers")) {
        r.te_trailers = true;
        break;
      }
  r.idle = listener_->config.limits.stream_idle_timeout;
  r.upgrade = upgrading_;
  return r;
}

bool stream::filters_see_response() noexcept {
  if (!filters_.active() || !(filters_.hooks() & hook_response)) return false;
  chain_fields_ = &response_.headers;
  chain_status_ = response_.status;
  return true;
}

bool stream::filters_see_response_body() const noexcept {
  return filters_.active() && (filters_.hooks() & (hook_response_body | hook_response_trailers));
}

void stream::end_relay(bool complete) noexcept {
  finish_link(complete && !worker_.draining());
  // A cut response leaves the client out of step; a refused body sent it nothing.
  if (!complete && !unusable_body_) down_->end_after_response();
  watch_->disarm();
}

void stream::finish_link(bool keep) noexcept {
  if (!link_) return;
  link_->finish(worker_.pool(), keep);
  link_ = nullptr;
}

asio::awaitable<stream::outcome> stream::exchange(std::size_t cluster, bool& body_done,
                                                  std::uint32_t* retries_left) {
  connection_pool& pool = worker_.pool();
  bool replayable = true;
  const bool idempotent = method_retriable_;
  cluster_state& cs = *down_->snap->clusters[cluster].state;
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
  const scoped_count active(worker_.upstream_active);
  // The connector of the cluster's protocol: everything below speaks to it
  // alone, whatever the protocol.
  const bool h2 = cs.config().protocol == upstream_protocol::http2;
  if (h2 && !h2_) h2_ = std::make_unique<h2_link>(executor_, *watch_);
  upstream_link& link = h2 ? static_cast<upstream_link&>(*h2_) : h1_;
  // While a try waits for room under the connection limits: counted in the
  // cluster's pending requests (all workers) and in this worker's pool.
  struct waiting_for_room {
    cluster_state& cs;
    connection_pool& pool;
    bool on = false;
    bool begin(std::uint32_t max_pending) {
      if (cs.pending.fetch_add(1, std::memory_order_relaxed) >= max_pending) {
        cs.pending.fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
      pool.start_waiting(cs);
      on = true;
      return true;
    }
    void end() noexcept {
      if (!on) return;
      on = false;
      cs.pending.fetch_sub(1, std::memory_order_relaxed);
      pool.end_waiting(cs);
    }
    ~waiting_for_room() { end(); }
  };
  for (int attempt = 0;; ++attempt) {
    if (trace_.on) begin_try_span();
    // An endpoint, and a pooled connection to it (HTTP/2: one with room for
    // a stream) or room for a new one under the connection limits. At the
    // cluster's limit, an idle connection of this worker to another endpoint
    // gives its room. Without room the request is pending: it polls for room
    // (a connection closing or a stream ending on any worker; other workers
    // close idle ones for it) until the connect timeout.
    std::size_t host = 0;
    endpoint_state* chosen = nullptr;
    bool pooled = false;
    waiting_for_room waiting{cs, pool};
    steady_clock::time_point pending_until{};
    const steady_clock::time_point opening_until = coarse_now() + cs.config().connect_timeout;
    for (;;) {
      const auto now = coarse_now();  // one clock read for the pick and the pool
      host = pool.pick(*down_->snap, cluster, pick_, now);
      if (host == ~std::size_t{0}) co_return outcome::no_endpoint;
      chosen = pool.endpoint(*down_->snap, cluster, host).get();
      pooled = link.take_pooled(pool, *down_->snap, cluster, host, now, attempt > 0);
      if (!pooled && link.wait_for_opening(pool, *chosen) && coarse_now() < opening_until) {
        co_await pause(std::chrono::milliseconds(1));
        continue;
      }
      if (pooled || pool.make_room(*down_->snap, cluster, host)) break;
      if (!waiting.on) {
        if (!waiting.begin(limits.max_pending_requests)) {
          cs.overflow_pending.fetch_add(1, std::memory_order_relaxed);
          overflow_ = "pending";
          co_return outcome::overflow;
        }
        pending_until = coarse_now() + cs.config().connect_timeout;
      } else if (coarse_now() >= pending_until || down_->forced) {
        cs.overflow_connections.fetch_add(1, std::memory_order_relaxed);
        overflow_ = "connections";
        co_return down_->forced ? outcome::client_gone : outcome::overflow;
      }
      co_await pause(std::chrono::milliseconds(2));
    }
    waiting.end();
    endpoint_state& ep = *chosen;
    last_endpoint_ = &ep;
    record_.upstream_used = true;
    record_.upstream_address = ep.address;
    if (!pooled) {
      link.opening(pool, ep, true);
      const bool opened = co_await open_upstream(cs, ep, cluster, host);
      link.opening(pool, ep, false);
      if (!opened) {
        replayable_ = true;  // nothing reached the upstream
        co_return down_->forced ? outcome::client_gone : outcome::connect_failed;
      }
      link.attach(pool, *down_->snap, cluster, host, std::move(opening_));
    }
    link_ = &link;
    worker_.count(h2 ? metrics::slot("gateway_upstream_requests_total", "HTTP/2")
                     : metrics::slot("gateway_upstream_requests_total", "HTTP/1.1"));
    endpoint_active_ = cs.config().load_balancer.policy == lb_policy::least_request ? &ep : nullptr;
    if (endpoint_active_) endpoint_active_->active.fetch_add(1, std::memory_order_relaxed);

    send_result sent = co_await send_request_body(body_done, replayable);
    if (sent == send_result::client_error || sent == send_result::too_large ||
        sent == send_result::client_late || sent == send_result::bad_framing ||
        sent == send_result::filtered) {
      end_endpoint_request();  // before the connection that may hold the endpoint's last reference
      finish_link(false);
      if (sent == send_result::filtered) co_return outcome::filter_reply;
      if (sent == send_result::too_large || sent == send_result::client_late) {
        co_await refuse_body(sent);
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
    watch_->arm(
        transport::deadline_phase::upstream,
        std::max(std::chrono::milliseconds(1),
                 std::min(try_timeout_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                            request_deadline_ - coarse_now()))));
    const auto sent_at = steady_clock::now();
    // The final head, usually the first; interim ones (1xx) are forwarded.
    upstream_link::head_result got = co_await link.read_head(response_);
    if (got == upstream_link::head_result::interim) got = co_await after_interim();
    if (got == upstream_link::head_result::invalid) {
      if (link.head_over_limit()) worker_.count(limit_kind::response_headers);
      log_unusable("head");
    }
    record_.upstream_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - sent_at)
            .count());
    end_endpoint_request();
    if (got == upstream_link::head_result::final) {
      trace_.try_status = response_.status;
      upstream_connection* const conn = link.connection();
      if (conn && conn->tls && conn->requests == 1) pool.remember_session(*conn);
      break;
    }

    const bool timed_out = watch_->expired();
    const bool invalid = got == upstream_link::head_result::invalid;
    // The endpoint outlives its connection here: DNS may have dropped it
    // meanwhile, and it is still to be reported below. No connection left:
    // close_upstream() took it, as the client's connection closed.
    upstream_connection* const conn = link.connection();
    if (!conn) {
      finish_link(false);
      co_return outcome::client_gone;
    }
    const std::shared_ptr<endpoint_state> failed = conn->endpoint;
    // A shared connection that said nothing at all while this try waited
    // out its timeout is likely dead (an upstream that stopped reading, a
    // path that drops packets): no new request goes on it.
    if (timed_out && link.retire_if_silent(sent_at))
      worker_.log().log(log_level::warn,
                        "upstream {} {}: HTTP/2 connection silent through a request's timeout, "
                        "retired [request {}]",
                        cs.config().name, ep.name, request_id());
    const bool refused = link.refused();
    const std::uint32_t reset_code = link.reset_code();
    const bool responded = link.responded();
    finish_link(false);
    replayable_ = replayable && idempotent && !responded;
    if (gone() && !timed_out) co_return outcome::client_gone;  // not the upstream's doing
    const bool replay_allowed = !retries_left || *retries_left > 0;
    // A request the upstream refused unprocessed (HTTP/2: RST_STREAM
    // REFUSED_STREAM, or past its GOAWAY) goes again on another connection
    // whatever its method, while its body can be sent again.
    if (!timed_out && refused && replayable && attempt < 3 && replay_allowed) {
      if (retries_left) --*retries_left;
      replayable_ = replayable;
      worker_.log().log(
          log_level::debug,
          "upstream {}: stream refused (GOAWAY or REFUSED_STREAM), sending it again [request {}]",
          cs.config().name, request_id());
      continue;
    }
    // A pooled connection the upstream closed just as we used it: try once more
    // on a fresh one when the request can be sent again safely. Not the
    // endpoint's fault, so not an outlier; but the upstream did see a try, so
    // under a retry policy it is one of the policy's (none left: no replay).
    if (!timed_out && attempt == 0 && pooled && !responded && replayable &&
        (idempotent || sent == send_result::upstream_error) && replay_allowed) {
      if (retries_left) --*retries_left;
      worker_.log().log(log_level::debug,
                        "upstream {}: pooled connection closed, retrying [request {}]",
                        cs.config().name, request_id());
      continue;
    }
    // Bytes that do not parse as a head on a reused connection are most likely
    // left over from its previous answer (a body sent after a HEAD response,
    // say): an idempotent request goes once more on a fresh connection. A
    // head over the limits is the upstream's answer, and would be again.
    if (!timed_out && attempt == 0 && pooled && invalid && !link.head_over_limit() && replayable &&
        idempotent && replay_allowed) {
      if (retries_left) --*retries_left;
      worker_.log().log(log_level::warn,
                        "upstream {}: stray bytes on a pooled connection, retrying [request {}]",
                        cs.config().name, request_id());
      continue;
    }
    cs.report(ep, upstream_result::local_failure, worker_.log());
    if (timed_out) co_return outcome::timeout;
    if (reset_code)
      worker_.log().log(
          log_level::warn,
          "upstream {} {}: stream reset (HTTP/2 error {}) before a response [request {}]",
          cs.config().name, ep.name, reset_code, request_id());
    else if (!invalid)
      worker_.log().log(log_level::warn,
                        "upstream {} {}: connection closed before a response [request {}]",
                        cs.config().name, ep.name, request_id());
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
    finish_link(false);
    co_return outcome::retry_status;
  }
  if (!body_done) down_->end_after_response();  // upstream answered before reading it all

  if (filters_see_response()) {
    if (co_await run_chain(chain_phase::response) == filter_status::stop) {
      // A filter answers instead; the upstream's answer is dropped unread.
      finish_link(false);
      replying_after_response_ = true;
      co_return outcome::filter_reply;
    }
  }
  if (response_.status == 101) {  // the upstream took the WebSocket upgrade
    co_await tunnel(h1_);
    finish_link(false);
    down_->end_after_response();
    watch_->disarm();
    co_return outcome::ok;
  }
  bool complete = false;
  const std::uint64_t body_limit = cs.config().max_response_body;
  if (filters_see_response_body())
    complete = co_await relay_filtered(body_limit);
  else
    complete = co_await relay_response(body_limit);
  end_relay(complete);
  if (std::exchange(unusable_body_, false)) {
    cs.report(*last_endpoint_, upstream_result::local_failure, worker_.log());
    co_return outcome::upstream_failed;
  }
  co_return outcome::ok;
}

asio::awaitable<bool> stream::open_upstream(cluster_state& cs, endpoint_state& ep,
                                            std::size_t cluster, std::size_t host, bool bytes) {
  connection_pool& pool = worker_.pool();
  opening_ = pool.fresh(*down_->snap, cluster, host);
  upstream_connection& conn = *opening_;
  watch_->arm(transport::deadline_phase::upstream, cs.config().connect_timeout);
  auto [ec] = co_await conn.socket.async_connect(ep.address, use_tuple);
  const char* step = "connect";
  if (!ec) {
    boost::system::error_code ignored;
    conn.socket.set_option(tcp::no_delay(true), ignored);
    conn.socket.non_blocking(true, ignored);  // for write_gather's immediate writes
    count_unread(conn.socket.native_handle());
    if (const auto& tls = down_->snap->clusters[cluster].tls) {
      // The handshake counts against the connect timeout too.
      conn.tls =
          std::make_unique<tls::stream>(*tls, conn.socket, ep.hostname, ep.address.address());
      conn.tls->offer(pool.session(*down_->snap, cluster, host));
      ec = co_await conn.tls->handshake();
      step = "TLS handshake";
      // HTTP/2 over TLS is only spoken when the upstream agreed to it.
      if (!ec && !bytes && cs.config().protocol == upstream_protocol::http2 &&
          conn.tls->alpn() != "h2") {
        ec = asio::error::no_protocol_option;
        step = "ALPN";
      }
    }
  }
  if (!ec) co_return true;
  if (worker_.log().enabled(log_level::warn)) {
    const std::string why = watch_->expired() ? "timed out"
                            : ec == asio::error::no_protocol_option
                                ? "failed: the upstream did not agree to h2"
                            : conn.tls ? "failed: " + conn.tls->why(ec)
                                       : "failed: " + ec.message();
    worker_.log().log(log_level::warn, "upstream {} {}: {} {} [request {}]", cs.config().name,
                      ep.name, step, why, request_id());
  }
  if (!down_->forced) cs.report(ep, upstream_result::local_failure, worker_.log());
  opening_.reset();
  co_return false;
}

asio::awaitable<stream::send_result> stream::send_request_body(bool& body_done, bool& replayable) {
  upstream_link& link = *link_;
  const bool h2 = link_ != &h1_;  // only HTTP/2 carries `te: trailers` on
  if (!link.begin(link_request(!body_done || pending_body_ || grpc_web_text_, h2)))
    co_return send_result::upstream_error;
  if (grpc_web_text_) {  // the decoded body, whole (read_web_text), each try alike
    pieces_.assign(1, asio::buffer(grpc_web_body_));
    body_done = true;
    co_return co_await link.send(pieces_, grpc_web_body_.size(), true, {})
        ? send_result::ok
        : send_result::upstream_error;
  }
  // Read ahead of the upstream at a time: the listener's buffer limit.
  const std::size_t read_ahead = down_->listener->config.limits.buffer_limit;
  // A read that brought nothing: the client left, or its request is late.
  auto unread = [](body_read r) {
    return r == body_read::late ? send_result::client_late : send_result::client_error;
  };
  auto piece = [](const asio::const_buffer& b) {
    return std::string_view(static_cast<const char*>(b.data()), b.size());
  };
  auto send = [&](const body_view& v) { return link.send(pieces_, v.bytes, v.end, v.trailers); };
  pieces_.clear();
  if (pending_body_) {
    // A replay (a retry on another connection): the whole body is still
    // unreleased downstream, where the first try left it.
    co_return co_await send(down_->peek_body(pieces_)) ? send_result::ok
                                                       : send_result::upstream_error;
  }
  if (body_done)
    co_return co_await link.send({}, 0, true, {}) ? send_result::ok : send_result::upstream_error;
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
        if (down_->peek_body(pieces_).end) break;
        if (const body_read r = co_await down_->read_body(std::max(read_ahead, whole + 1));
            r != body_read::ok)
          co_return unread(r);
      }
    }
    // A body that is already complete downstream is sent without being
    // released, so a retry on a fresh connection can send it again.
    pieces_.clear();
    body_view v = down_->peek_body(pieces_);
    if (replayable && v.end) {
      if (body_filters && !co_await inspect(v.count ? piece(pieces_.back()) : "", true))
        co_return send_result::filtered;
      pending_body_ = true;
      body_done = true;
      co_return co_await send(v) ? send_result::ok : send_result::upstream_error;
    }
    replayable = false;
    // The head leaves with the first send, whether or not any body came yet.
    for (bool first = true;; first = false) {
      if (v.count && body_filters && !co_await inspect(piece(pieces_.back()), v.end))
        co_return send_result::filtered;
      if ((first || v.count || v.end) && !co_await send(v)) co_return send_result::upstream_error;
      down_->release_body();
      if (v.end) break;
      if (const body_read r = co_await down_->read_body(read_ahead); r != body_read::ok)
        co_return unread(r);
      pieces_.clear();
      v = down_->peek_body(pieces_);
    }
    body_done = true;
    co_return send_result::ok;
  }

  // Chunked: decoded strictly downstream; the data of each read goes on
  // (HTTP/1.1: as one chunk).
  replayable = false;
  std::uint64_t total = 0;
  for (bool first = true;; first = false) {
    pieces_.clear();
    const body_view v = down_->peek_body(pieces_);
    if (v.error) co_return send_result::bad_framing;
    total += v.bytes;
    if (max_request_body_ && total > max_request_body_) co_return send_result::too_large;
    if (body_filters) {
      for (std::size_t i = 0; i < v.count; ++i)
        if (!co_await inspect(piece(pieces_[i]), v.end && i + 1 == v.count))
          co_return send_result::filtered;
      if (v.end && v.count == 0 && !co_await inspect({}, true)) co_return send_result::filtered;
    }
    if ((first || v.bytes || v.end) && !co_await send(v)) co_return send_result::upstream_error;
    down_->release_body();
    if (v.end) break;
    if (const body_read r = co_await down_->read_body(read_ahead); r != body_read::ok)
      co_return unread(r);
  }
  body_done = true;
  co_return send_result::ok;
}

asio::awaitable<void> stream::refuse_body(send_result why) {
  if (why == send_result::client_late) {
    worker_.count(limit_kind::request_timeout);
    co_await local_reply(408, "request not received in time\n", true);
  } else {
    worker_.count(limit_kind::request_body);
    co_await local_reply(413, "request body too large\n", true);
  }
}

asio::awaitable<bool> stream::serve_host(bool has_body) {
  bool body_done = !has_body;
  bool replayable = false;  // the host's handler runs once
  link_ = host_;
  record_.upstream_used = true;
  outcome result = outcome::ok;
  const send_result sent = co_await send_request_body(body_done, replayable);
  if (sent == send_result::filtered) {
    finish_link(false);
    result = outcome::filter_reply;
  } else if (sent == send_result::too_large || sent == send_result::client_late) {
    finish_link(false);
    co_await refuse_body(sent);
    co_return false;
  } else if (sent != send_result::ok) {
    finish_link(false);
    result = sent == send_result::bad_framing ? outcome::client_failed : outcome::client_gone;
  } else {
    // The route's timeout bounds the host's handler as it would an upstream.
    request_deadline_ = coarse_now() + request_timeout_;
    watch_->arm(transport::deadline_phase::upstream, request_timeout_);
    const auto sent_at = steady_clock::now();
    const upstream_link::head_result got = co_await host_->read_head(response_);
    record_.upstream_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - sent_at)
            .count());
    if (got == upstream_link::head_result::final) {
      // The response side as exchange() runs it (a host sends no 101). Not
      // shared through a coroutine of its own: one more frame per proxied
      // request measured 2.7% more instructions (bench/callgrind).
      if (filters_see_response() &&
          co_await run_chain(chain_phase::response) == filter_status::stop) {
        finish_link(false);
        replying_after_response_ = true;
        result = outcome::filter_reply;
      } else {
        bool complete = false;
        if (filters_see_response_body())
          complete = co_await relay_filtered(0);  // the host's own answer: no cluster limit
        else
          complete = co_await relay_response(0);
        end_relay(complete);
        if (std::exchange(unusable_body_, false)) result = outcome::upstream_failed;
      }
    } else {
      finish_link(false);
      result = watch_->expired()                            ? outcome::timeout
               : got == upstream_link::head_result::invalid ? outcome::upstream_failed
                                                            : outcome::client_gone;
    }
  }
  if (result == outcome::ok) co_return body_done;
  answer a;
  a.close = !body_done;
  if (!failure_answer(result, a)) co_return false;
  co_await local_reply(a.status, a.body, a.close, a.made, a.fields);
  co_return !a.close;
}

}  // namespace gateway
