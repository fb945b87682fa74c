// The pipeline's main line for one stream: the request's listener, id and
// route, the filters' request side, the answers the rule gives by itself,
// the backend choice and the retry loop around the upstream leg
// (upstream_leg.cpp), and local replies. The gRPC side is in
// grpc_steps.cpp, the stats and access-log record in stream_record.cpp.
#include "filters/client_address.hpp"
#include "grpc/grpc_wire.hpp"
#include "http1/head_text.hpp"
#include "pipeline/request_steps.hpp"
#include "server/connection.hpp"
#include "server/worker.hpp"
#include "stream/cookies.hpp"
#include "stream/stream.hpp"
#include "upstream/h2_link.hpp"

namespace gateway {

using namespace std::string_view_literals;

stream::stream(downstream& down, worker& w, transport::watchdog& watch, asio::any_io_executor ex)
    : alive_(std::make_shared<stream*>(this)),
      down_(&down),
      worker_(w),
      watch_(&watch),
      executor_(ex),
      resume_timer_(ex),
      h1_(watch) {
  filters_.set_counts(&w.filter_counts());
  filters_.set_error_log([this](std::string_view what) {
    worker_.log().log(log_level::error, "{} [request {}]", what, request_id());
  });
  // A paused filter's resume() may come from any thread: it posts to this
  // stream's executor, and only wakes the pause it was made for. The handle
  // holds the stream's token weakly: a pooled stream outlives the client
  // side it served, and may be gone when a late resume() arrives.
  filters_.set_waker([this]() -> std::function<void()> {
    return [weak = std::weak_ptr<stream*>(alive_), generation = pause_generation_,
            executor = executor_] {
      asio::post(executor, [weak, generation] {
        const auto alive = weak.lock();
        if (!alive || (*alive)->pause_generation_ != generation) return;
        (*alive)->resumed_ = true;
        (*alive)->resume_timer_.cancel();
      });
    };
  });
  head_out_.reserve(4096);
  client_head_.reserve(1024);
}

void stream::bind(downstream& down, transport::watchdog& watch) noexcept {
  down_ = &down;
  watch_ = &watch;
  h1_.bind(watch);
  if (h2_) h2_->bind(watch);
  authority_.clear();  // the connection's address, for requests without Host
  record_.series = 0;  // what a new stream starts with
}

stream::~stream() {
  end_retry();
  end_endpoint_request();  // before the connection that may hold the endpoint's last reference
  finish_link(false);
}

void stream::interrupt() noexcept {
  boost::system::error_code ignored;
  resume_timer_.cancel();
  if (opening_) opening_->socket.cancel(ignored);
  if (link_) link_->interrupt();
}

void stream::close_upstream() noexcept {
  boost::system::error_code ignored;
  resume_timer_.cancel();
  if (opening_) opening_->socket.close(ignored);
  if (link_) link_->close();
}

std::size_t stream::upstream_buffers() const noexcept {
  return h1_.buffered() + (h2_ ? h2_->buffered() : 0);
}

bool stream::gone() const noexcept {
  return down_->gone();
}

void stream::forget_request() noexcept {
  request_id_len_ = 0;
  is_head_request_ = false;
  listener_ = down_->listener;
}

std::string_view stream::client_view() const noexcept {
  return forwarded_client_len_ ? std::string_view(forwarded_client_, forwarded_client_len_)
                               : down_->client_ip;
}

const resolved_backend* stream::pick_backend(const resolved_rule& rr) noexcept {
  return gateway::pick_backend(rr, [this] { return worker_.random(); });
}

asio::awaitable<void> stream::pause(std::chrono::milliseconds d) {
  asio::steady_timer t(executor_);
  t.expires_after(d);
  co_await t.async_wait(use_tuple);
}

route_selection stream::route_request(const listener_runtime* chosen) {
  const listener_runtime& lr = *listener_;
  const route_plan plan = plan_route(lr, chosen != nullptr, request_, down_->https,
                                     worker_.random(), made_fields_, made_scratch_, cors_origin_);
  const route_selection& sel = plan.selection;
  rule_ = sel.rule;
  rule_index_ = sel.rule_index;
  record_.matched_route = sel.matched_route;
  resolved_ = plan.resolved;
  record_.series = resolved_ ? resolved_->local_series : lr.unrouted_series;
  if (sel) {
    request_timeout_ = plan.request_timeout;
    try_timeout_ = plan.try_timeout;
    if (timeout_cap_.count() > 0) {
      auto cap = [this](std::chrono::milliseconds t) {
        return t.count() > 0 ? std::min(t, timeout_cap_) : timeout_cap_;
      };
      request_timeout_ = cap(request_timeout_);
      try_timeout_ = cap(try_timeout_);
    }
  }
  cors_preflight_ = plan.cors_preflight;
  route_path_ = plan.path;
  matched_prefix_ = plan.matched_prefix;
  path_regex_ = plan.path_regex;
  return sel;
}

void stream::assign_request_id() noexcept {
  request_id_generated_ = false;
  if (const auto* h = http::find_header(request_.headers, "x-request-id");
      h && !h->value.empty() && h->value.size() <= sizeof request_id_) {
    request_id_len_ = h->value.size();
    std::memcpy(request_id_, h->value.data(), request_id_len_);
  } else {
    request_id_len_ = write_request_id(request_id_, worker_.random(), worker_.random());
    request_id_generated_ = true;
  }
}

asio::awaitable<bool> stream::serve() {
  // One place answers for the gateway (local_reply at the end) and the work
  // that needs no waiting is in plain functions, so this coroutine's frame
  // stays small enough for Asio's frame recycling: every co_await in it costs
  // frame space.
  const bool has_body = begin_request();
  answer a;
  a.close = has_body;
  if (misdirected_) {
    a.status = 421;
    a.body =
        "this connection's TLS handshake was for another listener; connect again for this host\n";
    a.close = true;
  } else if (normalized_ == normalize_result::reject) {
    a.status = 400;
    a.body = refused_request_body;
    a.close = true;
  } else if (normalized_ == normalize_result::redirect) {
    a.status = 307;
    a.made = &made_fields_;
  } else if (grpc_code_ == grpc::internal) {  // see begin_request
    a.status = 400;
    a.body = "malformed grpc-timeout\n";
  } else if (!rule_) {
    a.status = 404;
    a.body = "no route matches this request\n";
  } else if (cors_preflight_) {
    a.status = 204;
    a.made = &made_fields_;
  } else if (!listener_->config.filters.empty() || !rule_->filters.empty()) {
    // The filters see the head while its bytes are still in the buffer; their
    // edits go into the upstream head, then the head leaves the buffer.
    if (!co_await start_filters()) {
      a.status = take_filter_reply();
      a.body = filter_reply_body_;
      a.fields = filter_reply_fields_;
    }
  }
  if (a.status == 0) {
    head_to_upstream();
    check_rule(a);
  } else {
    down_->release_head();
  }
  if (a.status == 0 && has_body && (grpc_web_text_ || filters_.wants_whole_body()))
    own_upstream_request();
  if (a.status == 0 && has_body && grpc_web_text_ && !co_await read_web_text(a.status, a.body)) {
    if (a.status == 0) co_return false;  // the client is gone (or had its 408)
    a.close = true;
  }
  if (a.status == 0 && has_body && filters_.wants_whole_body()) {
    body_seen_by_filters_ = false;
    if (!co_await buffer_body_for_filters()) co_return false;  // it answered
  }
  // A rule that mirrors copies only a body that is whole: a small one that
  // is still coming (an HTTP/2 client's DATA after its HEADERS) is waited for.
  if (a.status == 0 && has_body && !tap_ && resolved_ && !resolved_->mirrors.empty() &&
      !co_await body_for_mirrors())
    co_return false;  // the client is gone
  if (a.status == 0 && host_) co_return co_await serve_host(has_body);
  std::size_t cluster = 0;
  if (a.status == 0) cluster = choose_cluster(a);
  if (a.status == 0 && tap_) co_return co_await hand_to_tap(cluster, has_body);

  if (a.status == 0) {
    bool body_done = !has_body;
    const retry_policy* retry = rule_->retry ? &*rule_->retry : nullptr;
    std::uint32_t retries_left = retry ? retry->attempts : 0;
    outcome result;
    request_deadline_ = {};  // starts once the request has been sent (see exchange)
    for (std::uint32_t tries = 1;; ++tries) {
      result = co_await exchange(cluster, body_done, retry ? &retries_left : nullptr);
      end_retry();
      if (retries_left == 0 || !replayable_ || down_->forced || !retries_outcome(*retry, result))
        break;
      --retries_left;
      const auto wait = retry_backoff(*retry, tries, worker_.random());
      if (request_deadline_ != steady_clock::time_point{} &&
          coarse_now() + wait >= request_deadline_) {
        // The request's deadline comes before the next try could: its
        // timeout is what ends the request (Gateway API: 504).
        result = outcome::timeout;
        break;
      }
      // The retry limits are the cluster's that failed. An answer dropped to
      // be retried was checked against them already; should another worker
      // have taken the last slot since, the client learns it from a 503.
      if (!admit_retry(*down_->snap->clusters[cluster].state)) {
        if (result == outcome::retry_status) {
          overflow_ = "retries";
          result = outcome::overflow;
        }
        break;
      }
      // Another backend of the rule may be picked, and the pick prefers
      // another endpoint than the one that failed.
      const resolved_backend* again = pick_backend(*resolved_);
      if (again->cluster == invalid_backend) {
        if (result == outcome::retry_status) result = outcome::upstream_failed;  // answer dropped
        break;
      }
      co_await pause(wait);
      if (down_->forced) co_return false;
      cluster = again->cluster;
      record_.series = again->series;
      pick_.avoid = last_endpoint_;
    }
    if (pending_body_) {  // a body kept for a retry is not needed any more
      down_->release_body();
      pending_body_ = false;
    }
    if (result == outcome::ok) co_return body_done;
    // The response never started: answer for the upstream.
    a.close = !body_done;
    if (!failure_answer(result, a)) co_return false;
  }
  co_await local_reply(a.status, a.body, a.close, a.made, a.fields);
  co_return !a.close;
}

bool stream::begin_request() {
  // Listeners sharing this socket are told apart by Host; none matching is a 404.
  listener_ = down_->listener;
  if (request_.host.empty() && authority_.empty()) {  // HTTP/1.0 without Host: rare
    const auto [ip, port] = down_->local_address();
    const bool v6 = ip.find(':') != std::string_view::npos;
    authority_.assign(v6 ? "[" : "").append(ip).append(v6 ? "]:" : ":");
    authority_.append(std::to_string(port));
  }
  const admission admitted = admit_request(*down_->snap, *down_->listener_group, *listener_,
                                           request_, authority_, target_buf_);
  const listener_runtime* chosen = admitted.chosen;
  listener_ = admitted.listener;
  normalized_ = admitted.normalized;
  // A client certificate checked (or not) for one listener does not admit
  // it to another that validates clients otherwise (GEP-91's concern).
  misdirected_ = down_->tls && chosen && chosen->tls_validation != down_->tls_validation;
  if (misdirected_) chosen = nullptr;
  const listener_runtime& lr = *listener_;
  trace_.on = false;
  if (lr.config.tracing) begin_trace();
  // The head's bytes leave the buffer before the end: what the log line and
  // the server span need is copied.
  if (worker_.access_log_enabled() || trace_.on) {
    record_.method.assign(request_.method);
    record_.host.assign(request_.host);
    record_.target.assign(request_.target);
  }
  forwarded_client_len_ = 0;
  if (lr.config.xff_trusted_hops) {
    std::string_view seen =
        filters::forwarded_client(request_.headers, down_->client_ip, lr.config.xff_trusted_hops);
    if (seen.data() != down_->client_ip.data() && seen.size() < sizeof forwarded_client_) {
      std::memcpy(forwarded_client_, seen.data(), seen.size());
      forwarded_client_len_ = seen.size();
    }
  }
  is_head_request_ = request_.method == "HEAD";
  request_chunked_ = request_.chunked;
  pending_body_ = false;
  body_seen_by_filters_ = false;
  request_length_ = !request_.chunked && request_.has_content_length ? request_.content_length : 0;
  assign_request_id();
  route_request(normalized_ == normalize_result::ok ? chosen : nullptr);
  begin_grpc();
  choose_upgrade();
  if (normalized_ == normalize_result::redirect) {
    made_fields_.clear();
    made_fields_.add("location"sv, request_.target);
  }
  method_retriable_ =
      gateway::retriable_method(rule_ && rule_->retry ? &*rule_->retry : nullptr, request_.method);
  return request_.chunked || request_length_ > 0;
}

void stream::head_to_upstream() {
  if (filters_.active() && filters_.query_changed()) {
    request_.query = filters_.query();
    query_replaced_ = true;
  }
  build_upstream_head(route_path_, matched_prefix_, path_regex_);
  query_replaced_ = false;
  prepare_pick();  // reads the head's fields, so before they leave the buffer
  down_->release_head();
  if (filters_.active()) filters_.end_request_head();
}

void stream::own_upstream_request() {
  upstream_scratch& u = upstream_request_;
  upstream_line_.assign(u.method).append(u.target);
  u.method = std::string_view(upstream_line_).substr(0, u.method.size());
  u.target = std::string_view(upstream_line_).substr(u.method.size());
  upstream_owned_.clear();
  for (const http::header& h : u.fields)
    upstream_owned_.add(h.name, h.value);
  u.fields.clear();
  upstream_owned_.append_to(u.fields);
  // The traceparent stays a view of trace_.traceparent, which each try rewrites.
  if (trace_.on)
    for (http::header& h : u.fields)
      if (h.name == "traceparent") h.value = {trace_.traceparent, tracing::traceparent_size};
}

void stream::choose_upgrade() noexcept {
  upgrading_ = upgrade_refused_ = false;
  // An Upgrade is HTTP/1.1's (an HTTP/2 extended CONNECT is read as one by
  // the session); HTTP/1.0 has none.
  if (request_.upgrade.empty() || !rule_ ||
      (request_.version_major == 1 && request_.version_minor == 0))
    return;
  for (const std::string& allowed : rule_->upgrades)
    // RFC 6455: WebSocket's handshake is a GET.
    if (http1::lists_token(request_.upgrade, allowed) &&
        (allowed != "websocket" || request_.method == "GET")) {
      upgrading_ = true;
      return;
    }
  // h2c (RFC 7540 §3.2) is offered in passing, and HTTP/2 is spoken here by
  // prior knowledge: served as HTTP/1.1, as a server may.
  upgrade_refused_ = !http1::lists_only(request_.upgrade, "h2c");
}

void stream::check_rule(answer& a) {
  if (rule_->redirect) {
    a.status = rule_->redirect->status_code;
    a.made = &made_fields_;
    return;
  }
  max_request_body_ = rule_->max_request_body.value_or(listener_->config.limits.max_request_body);
  if (max_request_body_ && request_.has_content_length &&
      request_.content_length > max_request_body_) {
    worker_.count(limit_kind::request_body);
    a.status = 413;
    a.body = "request body too large\n";
    a.close = true;
  } else if (upgrade_refused_) {
    a.status = 403;
    a.body = "this route does not take the Upgrade the request asks for\n";
  } else if (!host_ && (!resolved_ || resolved_->backends.empty())) {
    a.status = 500;
    a.body = "route has no valid backend\n";
    grpc_code_ = grpc::unavailable;  // GRPCRoute: a rule that forwards nowhere is UNAVAILABLE
  }
}

std::size_t stream::choose_cluster(answer& a) {
  const resolved_rule& rr = *resolved_;
  const resolved_backend* chosen_backend = backend_ ? backend_ : pick_backend(rr);
  const std::size_t cluster = chosen_backend->cluster;
  record_.series = chosen_backend->series;
  if (!rr.mirrors.empty() && !tap_) start_mirrors(rr);
  if (cluster == invalid_backend) {  // this share of the traffic has no valid backend
    a.status = 500;
    a.body = "route backend is invalid\n";
    grpc_code_ = grpc::unavailable;
  }
  return cluster;
}

void stream::prepare_pick() {
  pick_ = {};
  set_cookie_.clear();
  backend_ = resolved_ && !resolved_->backends.empty() ? pick_backend(*resolved_) : nullptr;
  if (!backend_ || backend_->cluster == invalid_backend) return;
  const load_balancer_config& lb = down_->snap->clusters[backend_->cluster].config.load_balancer;
  if (lb.policy != lb_policy::ring_hash && lb.policy != lb_policy::maglev) return;
  pick_.hash = pick_hash(
      lb.hash, request_.headers, client_view(), [this] { return worker_.random(); }, set_cookie_);
}

void stream::end_endpoint_request() noexcept {
  if (endpoint_active_) endpoint_active_->active.fetch_sub(1, std::memory_order_relaxed);
  endpoint_active_ = nullptr;
}

bool stream::admit_retry(cluster_state& cs) noexcept {
  const std::uint32_t before = cs.retries.fetch_add(1, std::memory_order_relaxed);
  if (!retry_room(cs, before)) {
    cs.retries.fetch_sub(1, std::memory_order_relaxed);
    worker_.log().log(log_level::debug,
                      "upstream {}: retry refused by the circuit breaker or budget [request {}]",
                      cs.config().name, request_id());
    return false;
  }
  cs.retries_total.fetch_add(1, std::memory_order_relaxed);
  retrying_ = &cs;
  return true;
}

void stream::end_retry() noexcept {
  if (retrying_) retrying_->retries.fetch_sub(1, std::memory_order_relaxed);
  retrying_ = nullptr;
}

bool stream::failure_answer(outcome result, answer& a) {
  switch (result) {
    case outcome::connect_failed:
      a.status = 503;
      a.body = "upstream connect error\n";
      return true;
    case outcome::timeout:
      a.status = 504;
      a.body = "upstream request timeout\n";
      grpc_code_ = grpc::deadline_exceeded;
      return true;
    case outcome::upstream_failed:
      a.status = 502;
      a.body = "upstream sent an invalid or no response\n";
      return true;
    case outcome::client_failed:
      a.status = 400;
      a.body = "malformed request body\n";
      a.close = true;
      return true;
    case outcome::filter_reply:
      a.status = take_filter_reply();
      a.body = filter_reply_body_;
      a.fields = filter_reply_fields_;
      return true;
    case outcome::overflow:
      a.status = 503;
      a.body = "upstream overflow\n";
      overflow_field_.clear();
      overflow_field_.add("x-gateway-overflow"sv, overflow_);
      a.made = &overflow_field_;
      return true;
    case outcome::no_endpoint:
      a.status = 503;
      a.body = "no healthy upstream\n";
      return true;
    case outcome::retry_status:  // cannot end here: the last try relays whatever it gets
    case outcome::ok:
    case outcome::client_gone:
      return false;
  }
  return false;
}

int stream::take_filter_reply() {
  // The reply's text lives in the chain's storage until the request ends; the
  // field list and body move out, since the response filters may set another.
  filter_reply_fields_.assign(filters_.reply_fields().begin(), filters_.reply_fields().end());
  filter_reply_body_.assign(filters_.reply_body());
  const int status = filters_.reply_status() ? filters_.reply_status() : 500;
  filters_.clear_reply();
  return status;
}

asio::awaitable<bool> stream::body_for_mirrors() {
  if (!request_chunked_ && request_length_ > max_mirrored_body) co_return true;  // never copied
  pieces_.clear();
  body_view v = down_->peek_body(pieces_);
  if (v.end || v.error || v.bytes > max_mirrored_body) co_return true;
  own_upstream_request();  // reading more may reuse the head's buffer space
  for (;;) {
    const body_read r = co_await down_->read_body(max_mirrored_body + max_mirrored_body / 8 + 1024);
    if (r == body_read::late) co_await refuse_body(send_result::client_late);
    if (r == body_read::gone || r == body_read::late) co_return false;
    pieces_.clear();
    v = down_->peek_body(pieces_);
    if (r == body_read::full || v.end || v.error || v.bytes > max_mirrored_body) co_return true;
  }
}

void stream::start_mirrors(const resolved_rule& rule) {
  mirror_counters& counters = worker_.mirrors();
  for (const resolved_mirror& m : rule.mirrors) {
    if (m.numerator == 0 || worker_.random() % m.denominator >= m.numerator) continue;
    const cluster_runtime& cl = down_->snap->clusters[m.cluster];
    // Only a body that is whole in the buffer can be copied; a streamed one
    // goes to the upstream once, so such requests are not mirrored. The copy
    // is framed anew (a Content-Length, or HTTP/2 DATA).
    const bool h2 = cl.config.protocol == upstream_protocol::http2;
    const bool has_body = request_chunked_ || request_length_ > 0;
    mirror_copy copy;
    bool body_here = false;
    if (has_body && (request_chunked_ || request_length_ <= max_mirrored_body)) {
      pieces_.clear();
      const body_view v = down_->peek_body(pieces_);
      body_here = v.end && !v.error && v.bytes <= max_mirrored_body;
      if (body_here)
        for (const asio::const_buffer& b : pieces_)
          copy.body.append(static_cast<const char*>(b.data()), b.size());
    }
    const std::size_t host =
        worker_.pool().pick(*down_->snap, m.cluster, pick_context{worker_.random()}, coarse_now());
    if ((has_body && !body_here) || host == ~std::size_t{0} ||
        counters.in_flight >= max_mirrors_in_flight) {
      counters.counted.add(metrics::slot("gateway_mirror_requests_total", "skipped"));
      continue;
    }
    const endpoint_state& ep = *worker_.pool().endpoint(*down_->snap, m.cluster, host);
    copy.to.address = ep.address;
    copy.to.server_name = ep.hostname;
    copy.to.http2 = h2;
    copy.tls = cl.tls;
    // The request as the upstream leg sends it, in the HTTP/2 link's terms
    // (Host as the authority, never an Upgrade): its framing is the copy's
    // own, so the request is taken as bodyless here.
    const upstream_link::request r = link_request(false, h2);
    std::vector<http::header> fields;
    char length[24];
    copy.authority = h2_link::request_fields(r, fields, length);
    copy.method = r.method;
    copy.target = r.target;
    copy.fields.reserve(fields.size());
    for (const http::header& f : fields)
      copy.fields.emplace_back(f.name, f.value);
    copy.connect_timeout = cl.config.connect_timeout;
    copy.timeout = request_timeout_;
    asio::co_spawn(executor_, send_mirror(std::move(copy), counters), asio::detached);
  }
}

asio::awaitable<void> stream::local_reply(int status, std::string_view body, bool close,
                                          const owned_fields* made,
                                          std::span<const http::header> fields) {
  if (gone()) co_return;
  if (filters_.dropped()) {  // a filter asked for no answer at all, whichever hook it was
    drop_client();
    co_return;
  }
  reply_fields_.clear();
  if (made) made->append_to(reply_fields_);
  reply_fields_.insert(reply_fields_.end(), fields.begin(), fields.end());
  const bool grpc_reply = grpc_;
  if (grpc_reply) grpc_answer(status, body);
  if (!http::find_header(reply_fields_, "content-type"))
    reply_fields_.insert(reply_fields_.begin(), {"content-type"sv, "text/plain; charset=utf-8"sv});
  if (filters_.active() && !replying_after_response_ &&
      (filters_.hooks() & (hook_response | hook_response_body))) {
    // The response filters see the gateway's own answers too (CORS fields on
    // a 401, a custom error page for a 503).
    filters_.clear_reply();
    record_.status = status;
    replying_after_response_ = true;
    chain_fields_ = &reply_fields_;
    chain_status_ = status;
    if (co_await run_chain(chain_phase::response) == filter_status::stop) {
      co_await filter_reply(close);
      co_return;
    }
    chain_chunk_ = {body, true};
    if (filters_.hooks() & hook_response_body) {
      if (co_await run_chain(chain_phase::response_body) == filter_status::stop) {
        co_await filter_reply(close);
        co_return;
      }
      body = chain_chunk_.data;
    }
    status = filters_.response_status();
  }
  if (gone()) co_return;
  record_.status = status;
  // The request's id is the gateway's to say, whatever a filter set.
  std::erase_if(reply_fields_,
                [](const http::header& h) { return http::iequals(h.name, "x-request-id"); });
  if (request_id_len_) reply_fields_.push_back({"x-request-id"sv, request_id()});
  local_answer answer;
  answer.status = status;
  answer.fields = reply_fields_;
  answer.body = body;
  answer.close = close;
  answer.head_request = is_head_request_;
  answer.fields_only = grpc_reply && body.empty();
  co_await down_->send_local(answer);
  watch_->disarm();
}

asio::awaitable<bool> stream::hand_to_tap(std::size_t cluster, bool has_body) {
  if (has_body && filters_.active() && (filters_.hooks() & hook_request_body) &&
      !body_seen_by_filters_) {
    // The body is all there: the filters see it in one piece, as if it came
    // in one read.
    pieces_.clear();
    const body_view v = down_->peek_body(pieces_);
    filter_body_.clear();
    for (const asio::const_buffer& b : pieces_)
      filter_body_.append(static_cast<const char*>(b.data()), b.size());
    chain_data_ = filter_body_;
    chain_end_ = v.end;
    if (co_await run_chain(chain_phase::request_body) != filter_status::next) {
      co_await filter_reply(true);
      co_return false;
    }
  }
  if (down_->snap->clusters[cluster].config.protocol == upstream_protocol::http2) {
    const upstream_link::request r = link_request(has_body, true);
    upstream_tap::h2_request t;
    t.authority = h2_link::request_fields(r, tap_fields_, tap_length_);
    t.method = r.method;
    t.target = r.target;
    t.fields = tap_fields_;
    tap_->to_upstream(cluster, pick_, {}, &t);
  } else {
    tap_->to_upstream(cluster, pick_, head_out_, nullptr);
  }
  co_return true;
}

asio::awaitable<void> wake_on_expiry(transport::watchdog& watch, stream& s) {
  for (bool expired = co_await watch.next_expiry(); expired; expired = co_await watch.next_expiry())
    s.interrupt();
}

}  // namespace gateway
