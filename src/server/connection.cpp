// The client side of a connection: reading and checking request heads,
// routing, local replies, deadlines and keep-alive. The upstream exchange
// itself is in proxy_exchange.cpp.
#include "server/connection.hpp"

#include <arpa/inet.h>

#include <charconv>

#include "filters/client_address.hpp"
#include "http1/head_text.hpp"
#include "pipeline/request_steps.hpp"
#include "server/worker.hpp"
#include "stream/cookies.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
constexpr std::size_t initial_buffer = 16 * 1024;
// Until a request is proxied, the upstream buffer is small; see exchange().
constexpr std::size_t initial_upstream_buffer = 4 * 1024;
}  // namespace

connection::connection(worker& owner, tcp::socket socket, std::uint32_t group)
    : worker_(owner),
      client_(std::move(socket)),
      watch_(client_.executor()),
      group_(group),
      in_(initial_buffer),
      up_(initial_upstream_buffer),
      resume_timer_(client_.executor()) {
  worker_.attach(this);
  filters_.set_error_log([this](std::string_view what) {
    worker_.log().log(log_level::error, what, " [request ", request_id(), "]");
  });
  // A paused filter's resume() may come from any thread: it posts to this
  // connection's executor, and only wakes the pause it was made for.
  filters_.set_waker([this]() -> std::function<void()> {
    return
        [weak = weak_from_this(), generation = pause_generation_, executor = client_.executor()] {
          asio::post(executor, [weak, generation] {
            auto self = weak.lock();
            if (!self || self->pause_generation_ != generation) return;
            self->resumed_ = true;
            self->resume_timer_.cancel();
          });
        };
  });
  head_out_.reserve(4096);
  boost::system::error_code ec;
  auto peer = client_.remote(ec);
  std::string ip = ec ? std::string("unknown") : peer.address().to_string();
  client_ip_len_ = std::min(ip.size(), sizeof client_ip_);
  std::memcpy(client_ip_, ip.data(), client_ip_len_);
  if (!ec) client_port_ = peer.port();
}

connection::~connection() {
  end_retry();
  end_endpoint_request();
  worker_.detach(this);
}

void connection::close() noexcept {
  open_ = false;
  boost::system::error_code ignored;
  watch_.stop();
  resume_timer_.cancel();
  client_.close(force_closed_);
  if (upstream_) upstream_->socket.close(ignored);
}

void connection::interrupt(bool force) noexcept {
  if (force) {
    force_closed_ = true;
    boost::system::error_code ignored;
    client_.cancel();
    resume_timer_.cancel();
    if (active_upstream_) active_upstream_->socket.cancel(ignored);
  } else if (watch_.phase() == transport::deadline_phase::idle ||
             watch_.phase() == transport::deadline_phase::handshake) {
    client_.cancel();
  }
  // Active requests see worker.draining() when they finish and close then.
}

asio::awaitable<void> connection::watchdog() {
  auto self = shared_from_this();
  while (co_await watch_.next_expiry()) {
    boost::system::error_code ignored;
    client_.cancel();
    resume_timer_.cancel();
    if (active_upstream_) active_upstream_->socket.cancel(ignored);
  }
}

asio::awaitable<void> connection::run() {
  auto self = shared_from_this();
  if (!co_await start_tls()) open_ = false;
  while (open_ && !force_closed_) {
    if (!co_await read_request_head()) {
      finish_request();  // a head that was refused (400, 408, 414, 431) still counts
      break;
    }
    bool keep = co_await serve_request();
    finish_request();
    if (!keep || worker_.draining() || force_closed_) break;
  }
  if (linger_ && open_ && !force_closed_) {
    std::size_t room = 0;
    in_.clear();
    char* scratch = in_.prepare(room, in_.capacity());
    co_await client_.linger(watch_, asio::buffer(scratch, room));
    in_.clear();
  }
  close();
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
  group_rt_ = g;
  listener_rt_ = &snap->listeners[g->members.front()];
  return true;
}

asio::awaitable<bool> connection::start_tls() {
  if (!refresh_snapshot()) co_return false;
  const std::shared_ptr<const tls::server_context> context = group_rt_->tls;
  if (!context) co_return true;
  handshake_counters& counted = worker_.handshakes();
  if (worker_.pending_handshakes >= context->max_pending_handshakes()) {
    ++counted.refused;
    co_return false;
  }
  ++worker_.pending_handshakes;
  watch_.arm(transport::deadline_phase::handshake, context->handshake_timeout());
  const boost::system::error_code ec = co_await client_.handshake(context);
  --worker_.pending_handshakes;
  const bool timed_out = watch_.expired();
  watch_.disarm();
  if (ec) {
    ++(timed_out ? counted.timed_out : counted.failed);
    if (worker_.log().enabled(log_level::debug))
      worker_.log().log(log_level::debug, "TLS handshake from ", client_view(), ":", client_port_,
                        timed_out ? " timed out" : " failed: " + client_.tls()->why(ec));
    co_return false;
  }
  ++counted.ok;
  if (client_.tls()->info().resumed) ++counted.resumed;
  tls_validation_ = context->validation_id(client_.tls()->listener());
  co_return true;
}

asio::awaitable<bool> connection::flush_client() {
  return client_.write(gather_, watch_, listener_rt_->config.limits.stream_idle_timeout,
                       record_.bytes_out);
}

asio::awaitable<bool> connection::read_request_head() {
  // The limits for reading the head come from the config current now; the
  // request itself is served by the config current when its head is complete,
  // so a keep-alive connection idle across a reload uses the new one.
  if (!refresh_snapshot() && (!snapshot_ || in_.empty())) co_return false;
  const listener_limits limits = listener_rt_->config.limits;  // a copy: the snapshot may change
  record_.series = listener_rt_->unrouted_series;
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
      if (record_.start == steady_clock::time_point{}) record_.start = steady_clock::now();
      if (std::size_t end = scanner_.find_end(pending)) {
        refresh_snapshot();
        int status = http1::parse_request_head(pending.substr(0, end), request_, head_limits);
        if (status) {
          request_id_len_ = 0;
          is_head_request_ = false;
          co_await local_reply(status, http::reason_phrase(status), true);
          co_return false;
        }
        co_return true;
      }
      if (int status =
              scanner_.bare_lf() ? 400 : http1::incomplete_request_status(pending, head_limits)) {
        request_id_len_ = 0;
        is_head_request_ = false;
        co_await local_reply(status, http::reason_phrase(status), true);
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
    std::size_t room = 0;
    char* dst = in_.prepare(room, limits.max_request_head + 2 * 1024);
    if (room == 0) {
      is_head_request_ = false;
      co_await local_reply(431, "Request Header Fields Too Large", true);
      co_return false;
    }
    auto [ec, n] = co_await client_.read_some(asio::buffer(dst, room));
    record_.bytes_in += n;
    if (ec) {
      if (watch_.expired() && watch_.phase() == transport::deadline_phase::head) {
        request_id_len_ = 0;
        is_head_request_ = false;
        co_await local_reply(408, "Request Timeout", true);
      }
      co_return false;
    }
    in_.commit(n);
  }
}

const resolved_backend* connection::pick_backend(const resolved_rule& rr) noexcept {
  return gateway::pick_backend(rr, [this] { return worker_.random(); });
}

asio::awaitable<void> connection::pause(std::chrono::milliseconds d) {
  asio::steady_timer t(client_.executor());
  t.expires_after(d);
  co_await t.async_wait(use_tuple);
}

route_selection connection::route_request(const listener_runtime* chosen) {
  const listener_runtime& lr = *listener_rt_;
  const route_plan plan = plan_route(lr, chosen != nullptr, request_, client_.tls() != nullptr,
                                     worker_.random(), made_fields_, made_scratch_, cors_origin_);
  const route_selection& sel = plan.selection;
  rule_ = sel.rule;
  record_.matched_route = sel.matched_route;
  resolved_ = plan.resolved;
  record_.series = resolved_ ? resolved_->local_series : lr.unrouted_series;
  if (sel) {
    request_timeout_ = plan.request_timeout;
    try_timeout_ = plan.try_timeout;
  }
  cors_preflight_ = plan.cors_preflight;
  route_path_ = plan.path;
  matched_prefix_ = plan.matched_prefix;
  path_regex_ = plan.path_regex;
  return sel;
}

void connection::assign_request_id() noexcept {
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

asio::awaitable<bool> connection::serve_request() {
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
  } else if (!rule_) {
    a.status = 404;
    a.body = "no route matches this request\n";
  } else if (cors_preflight_) {
    a.status = 204;
    a.made = &made_fields_;
  } else if (!listener_rt_->config.filters.empty() || !rule_->filters.empty()) {
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
    in_.consume(request_.head_size);
  }
  if (a.status == 0 && has_body && filters_.wants_whole_body()) {
    body_seen_by_filters_ = false;
    if (!co_await buffer_body_for_filters()) co_return false;  // it answered
  }
  std::size_t cluster = 0;
  if (a.status == 0) cluster = choose_cluster(a);

  if (a.status == 0) {
    bool body_done = !has_body;
    const retry_policy* retry = rule_->retry ? &*rule_->retry : nullptr;
    std::uint32_t retries_left = retry ? retry->attempts : 0;
    outcome result;
    request_deadline_ = {};  // starts once the request has been sent (see exchange)
    for (std::uint32_t tries = 1;; ++tries) {
      result = co_await exchange(cluster, body_done, retry ? &retries_left : nullptr);
      end_retry();
      if (retries_left == 0 || !replayable_ || force_closed_ || !retries_outcome(*retry, result))
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
      if (!admit_retry(*snapshot_->clusters[cluster].state)) {
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
      if (force_closed_) co_return false;
      cluster = again->cluster;
      record_.series = again->series;
      pick_.avoid = last_endpoint_;
    }
    if (pending_body_) {  // a body kept for a retry is not needed any more
      in_.consume(pending_body_);
      pending_body_ = 0;
    }
    if (result == outcome::ok) co_return client_keep_alive_&& body_done && !worker_.draining();
    // The response never started: answer for the upstream.
    a.close = !body_done || !client_keep_alive_;
    if (!failure_answer(result, a)) co_return false;
  }
  co_await local_reply(a.status, a.body, a.close, a.made, a.fields);
  co_return !a.close && client_keep_alive_;
}

bool connection::begin_request() {
  // Listeners sharing this socket are told apart by Host; none matching is a 404.
  if (request_.host.empty() && authority_.empty()) {  // HTTP/1.0 without Host: rare
    learn_local_address();
    const bool v6 = std::string_view(local_ip_, local_ip_len_).find(':') != std::string_view::npos;
    authority_.assign(v6 ? "[" : "").append(local_ip_, local_ip_len_).append(v6 ? "]:" : ":");
    authority_.append(std::to_string(local_port_));
  }
  const admission admitted =
      admit_request(*snapshot_, *group_rt_, *listener_rt_, request_, authority_, target_buf_);
  const listener_runtime* chosen = admitted.chosen;
  listener_rt_ = admitted.listener;
  normalized_ = admitted.normalized;
  // A client certificate checked (or not) for one listener does not admit
  // it to another that validates clients otherwise (GEP-91's concern).
  misdirected_ = client_.tls() && chosen && chosen->tls_validation != tls_validation_;
  if (misdirected_) chosen = nullptr;
  const listener_runtime& lr = *listener_rt_;
  if (worker_.access_log_enabled()) {  // the head's bytes leave the buffer before the end
    record_.method.assign(request_.method);
    record_.host.assign(request_.host);
    record_.target.assign(request_.target);
  }
  forwarded_client_len_ = 0;
  if (lr.config.xff_trusted_hops) {
    std::string_view seen = filters::forwarded_client(
        request_.headers, {client_ip_, client_ip_len_}, lr.config.xff_trusted_hops);
    if (seen.data() != client_ip_ && seen.size() < sizeof forwarded_client_) {
      std::memcpy(forwarded_client_, seen.data(), seen.size());
      forwarded_client_len_ = seen.size();
    }
  }
  client_version_minor_ = request_.version_minor;
  client_keep_alive_ = request_.wants_keep_alive() && !group_gone_;
  is_head_request_ = request_.method == "HEAD";
  sent_continue_ = false;
  request_chunked_ = request_.chunked;
  request_expect_continue_ = request_.expect_continue;
  pending_body_ = 0;
  body_seen_by_filters_ = false;
  request_body_left_ = request_.has_content_length ? request_.content_length : 0;
  assign_request_id();
  route_request(normalized_ == normalize_result::ok ? chosen : nullptr);
  if (normalized_ == normalize_result::redirect) {
    made_fields_.clear();
    made_fields_.add("location"sv, request_.target);
  }
  method_retriable_ =
      gateway::retriable_method(rule_ && rule_->retry ? &*rule_->retry : nullptr, request_.method);
  return request_.chunked || request_body_left_ > 0;
}

void connection::head_to_upstream() {
  if (filters_.active() && filters_.query_changed()) {
    request_.query = filters_.query();
    query_replaced_ = true;
  }
  build_upstream_head(route_path_, matched_prefix_, path_regex_);
  query_replaced_ = false;
  prepare_pick();  // reads the head's fields, so before they leave the buffer
  in_.consume(request_.head_size);
  if (filters_.active()) filters_.end_request_head();
}

void connection::check_rule(answer& a) {
  if (rule_->redirect) {
    a.status = rule_->redirect->status_code;
    a.made = &made_fields_;
    return;
  }
  max_request_body_ =
      rule_->max_request_body.value_or(listener_rt_->config.limits.max_request_body);
  if (max_request_body_ && request_.has_content_length &&
      request_.content_length > max_request_body_) {
    a.status = 413;
    a.body = "request body too large\n";
    a.close = true;
  } else if (!resolved_ || resolved_->backends.empty()) {
    a.status = 500;
    a.body = "route has no valid backend\n";
  }
}

std::size_t connection::choose_cluster(answer& a) {
  const resolved_rule& rr = *resolved_;
  const resolved_backend* chosen_backend = backend_ ? backend_ : pick_backend(rr);
  const std::size_t cluster = chosen_backend->cluster;
  record_.series = chosen_backend->series;
  if (!rr.mirrors.empty()) start_mirrors(rr);
  if (cluster == invalid_backend) {  // this share of the traffic has no valid backend
    a.status = 500;
    a.body = "route backend is invalid\n";
  }
  return cluster;
}

void connection::prepare_pick() {
  pick_ = {};
  set_cookie_.clear();
  backend_ = resolved_ && !resolved_->backends.empty() ? pick_backend(*resolved_) : nullptr;
  if (!backend_ || backend_->cluster == invalid_backend) return;
  const load_balancer_config& lb = snapshot_->clusters[backend_->cluster].config.load_balancer;
  if (lb.policy != lb_policy::ring_hash && lb.policy != lb_policy::maglev) return;
  pick_.hash = pick_hash(
      lb.hash, request_.headers, client_view(), [this] { return worker_.random(); }, set_cookie_);
}

void connection::end_endpoint_request() noexcept {
  if (endpoint_active_) endpoint_active_->active.fetch_sub(1, std::memory_order_relaxed);
  endpoint_active_ = nullptr;
}

bool connection::admit_retry(cluster_state& cs) noexcept {
  const std::uint32_t before = cs.retries.fetch_add(1, std::memory_order_relaxed);
  if (!retry_room(cs, before)) {
    cs.retries.fetch_sub(1, std::memory_order_relaxed);
    worker_.log().log(log_level::debug, "upstream ", cs.config().name,
                      ": retry refused by the circuit breaker or budget [request ", request_id(),
                      "]");
    return false;
  }
  cs.retries_total.fetch_add(1, std::memory_order_relaxed);
  retrying_ = &cs;
  return true;
}

void connection::end_retry() noexcept {
  if (retrying_) retrying_->retries.fetch_sub(1, std::memory_order_relaxed);
  retrying_ = nullptr;
}

bool connection::failure_answer(outcome result, answer& a) {
  switch (result) {
    case outcome::connect_failed:
      a.status = 503;
      a.body = "upstream connect error\n";
      return true;
    case outcome::timeout:
      a.status = 504;
      a.body = "upstream request timeout\n";
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

int connection::take_filter_reply() {
  // The reply's text lives in the chain's storage until the request ends; the
  // field list and body move out, since the response filters may set another.
  filter_reply_fields_.assign(filters_.reply_fields().begin(), filters_.reply_fields().end());
  filter_reply_body_.assign(filters_.reply_body());
  const int status = filters_.reply_status() ? filters_.reply_status() : 500;
  filters_.clear_reply();
  return status;
}

void connection::log_access(std::uint64_t micros) noexcept {
  // Formatted into buffers of this connection, so a logged request allocates
  // nothing once they have grown.
  char upstream[INET6_ADDRSTRLEN + 8];
  std::size_t upstream_len = 0;
  if (record_.upstream_used) {
    const auto address = record_.upstream_address.address();
    const bool v4 = address.is_v4();
    const auto bytes4 = v4 ? address.to_v4().to_bytes() : asio::ip::address_v4::bytes_type{};
    const auto bytes6 = v4 ? asio::ip::address_v6::bytes_type{} : address.to_v6().to_bytes();
    if (::inet_ntop(v4 ? AF_INET : AF_INET6,
                    v4 ? static_cast<const void*>(bytes4.data()) : bytes6.data(), upstream,
                    INET6_ADDRSTRLEN)) {
      upstream_len = std::strlen(upstream);
      upstream[upstream_len++] = ':';
      upstream_len = static_cast<std::size_t>(std::to_chars(upstream + upstream_len,
                                                            upstream + sizeof upstream,
                                                            record_.upstream_address.port())
                                                  .ptr -
                                              upstream);
    }
  }
  record_.route_name.clear();
  if (record_.matched_route)
    record_.route_name.append(record_.matched_route->namespace_name)
        .append("/")
        .append(record_.matched_route->name);
  access_record r;
  r.time = std::chrono::system_clock::now();
  r.request_id = request_id();
  r.client = client_view();
  r.method = record_.method;
  r.host = record_.host;
  r.path = record_.target;
  r.route = record_.route_name;
  r.listener = listener_rt_ ? std::string_view(listener_rt_->config.name) : "";
  r.upstream = {upstream, upstream_len};
  r.status = record_.status;
  r.bytes_in = record_.bytes_in;
  r.bytes_out = record_.bytes_out;
  r.duration_us = micros;
  r.upstream_us = record_.upstream_us;
  if (filters_.active()) r.metadata = filters_.all_metadata();
  if (client_.tls()) r.tls = &client_.tls()->info();
  worker_.log_request(r);
}

void connection::finish_request() noexcept {
  if (filters_.in_use()) filters_.run_log();  // before the access log: on_log may leave metadata
  replying_after_response_ = false;
  if (record_.started()) {
    auto micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - record_.start)
            .count());
    worker_.stats(record_.series)
        .record(record_.status, record_.bytes_in, record_.bytes_out, micros);
    if (worker_.access_log_enabled()) log_access(micros);
  }
  if (filters_.in_use()) filters_.finish();
  forwarded_client_len_ = 0;
  record_.reset();
  end_retry();
  end_endpoint_request();
  backend_ = nullptr;
  last_endpoint_ = nullptr;
}

void connection::start_mirrors(const resolved_rule& rule) {
  mirror_counters& counters = worker_.mirrors();
  for (const resolved_mirror& m : rule.mirrors) {
    if (m.numerator == 0 || worker_.random() % m.denominator >= m.numerator) continue;
    const cluster_runtime& cl = snapshot_->clusters[m.cluster];
    // Only a body that is whole in the buffer can be copied; a streamed one
    // goes to the upstream once, so such requests are not mirrored.
    const bool has_body = request_chunked_ || request_body_left_ > 0;
    const bool body_here = !request_chunked_ && request_body_left_ <= max_mirrored_body &&
                           in_.size() >= request_body_left_;
    const std::size_t host =
        worker_.pool().pick(*snapshot_, m.cluster, pick_context{worker_.random()}, coarse_now());
    if ((has_body && !body_here) || host == ~std::size_t{0} ||
        counters.in_flight >= max_mirrors_in_flight) {
      ++counters.skipped;
      continue;
    }
    std::string copy;
    const std::size_t body = has_body ? static_cast<std::size_t>(request_body_left_) : 0;
    copy.reserve(head_out_.size() + 24 + body);
    copy.append(head_out_, 0, head_out_.size() - 2);  // without the blank line
    copy.append("connection: close\r\n\r\n"sv);
    copy.append(in_.view().substr(0, body));
    asio::co_spawn(
        client_.executor(),
        send_mirror(worker_.pool().endpoint(*snapshot_, m.cluster, host)->address, std::move(copy),
                    cl.config.connect_timeout, request_timeout_, counters),
        asio::detached);
  }
}

asio::awaitable<bool> connection::write_client(std::span<const asio::const_buffer> buffers) {
  // Whatever was queued for another peer is abandoned by now (an interim or
  // local answer interrupts the exchange), so the queue is the client's.
  gather_.assign(buffers.begin(), buffers.end());
  co_return co_await flush_client();
}

asio::awaitable<void> connection::local_reply(int status, std::string_view body, bool close,
                                              const owned_fields* made,
                                              std::span<const http::header> fields) {
  if (!open_ || force_closed_) co_return;
  if (filters_.dropped()) {  // a filter asked for no answer at all, whichever hook it was
    drop_client();
    co_return;
  }
  reply_fields_.clear();
  if (made) made->append_to(reply_fields_);
  reply_fields_.insert(reply_fields_.end(), fields.begin(), fields.end());
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
  if (!open_ || force_closed_) co_return;
  record_.status = status;
  build_local_reply(status, reply_fields_, body, close);
  asio::const_buffer b(head_out_.data(), head_out_.size());
  co_await write_client(std::span(&b, 1));
  watch_.disarm();
}

void connection::build_local_reply(int status, std::span<const http::header> fields,
                                   std::string_view body, bool close) {
  http1::write_local_reply(head_out_, status, fields, body, close, request_id(), is_head_request_);
  if (close) linger_ = true;
}

}  // namespace gateway
