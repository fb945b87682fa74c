// A host's call through the client, served by the pipeline on a worker: the
// request is written as the bytes a client would send and parsed by the same
// parser (so a header the gateway would refuse is refused here too), and the
// response comes back through the downstream interface a connection has.
#include "server/host_call.hpp"

#include <gateway/error.hpp>

#include "server/evaluation.hpp"

namespace gateway {

using namespace std::string_view_literals;

host_call::host_call(worker& w, std::shared_ptr<const snapshot> snap, const socket_group& group,
                     client_request request, const parsed_url& url, std::string client_address,
                     completion done, forwarding forward)
    : worker_(w),
      snap_(std::move(snap)),
      group_(group.id),
      request_(std::move(request)),
      url_(url),
      client_address_(std::move(client_address)),
      done_(std::move(done)),
      forward_(std::move(forward)),
      who_(forward_ ? "middleware" : "client"),
      watch_(w.context().get_executor()),
      stream_(*this, w, watch_, w.context().get_executor()) {
  worker_.attach(this);
  this->snap = snap_.get();
  listener_group = &group;
  listener = &snap_->listeners[group.members.front()];
  client_ip = client_address_.empty() ? "127.0.0.1"sv : std::string_view(client_address_);
  protocol = "HTTP/1.1"sv;
  https = url_.https;
  if (forward_) {
    host_.emplace(w.context().get_executor(), *this);
    stream_.set_host(&*host_);
  }
  if (request_.timeout.count() > 0) stream_.cap_timeout(request_.timeout);

  const std::size_t head_size =
      write_request_text(text_, request_.method, url_, request_.headers, request_.body);
  body_ = std::string_view(text_).substr(head_size);
  const listener_limits& limits = listener->config.limits;
  const http1::head_limits head_limits{limits.max_request_line, limits.max_request_head,
                                       limits.max_header_count};
  const std::string_view head = std::string_view(text_).substr(0, head_size);
  refused_ = http1::incomplete_request_status(head, head_limits);
  if (!refused_ || head_size <= limits.max_request_head) refused_ = 0;
  if (!refused_) refused_ = http1::parse_request_head(head, stream_.request(), head_limits);
}

host_call::~host_call() {
  // A call whose loop was torn down before it ended still answers its host.
  complete({make_error_code(errc::unavailable),
            std::string(who_) + ": closed before the request ended",
            {}});
  worker_.detach(this);
}

void host_call::start() {
  if (refused_ && !forward_) {
    complete({make_error_code(errc::invalid_argument),
              "client: the request cannot be sent as it is (the gateway would answer it " +
                  std::to_string(refused_) + " " + std::string(http::reason_phrase(refused_)) +
                  "): check its method, URL and header fields",
              {}});
    return;
  }
  asio::co_spawn(worker_.context(), keep_deadlines(), asio::detached);
  asio::co_spawn(worker_.context(), run(), asio::detached);
}

asio::awaitable<void> host_call::keep_deadlines() {
  auto self = shared_from_this();
  co_await wake_on_expiry(watch_, stream_);
}

asio::awaitable<void> host_call::run() {
  auto self = shared_from_this();
  if (refused_) {  // a middleware's: the gateway's answer to a head it refuses
    stream_.forget_request();
    co_await stream_.local_reply(refused_, http::reason_phrase(refused_), true);
  } else {
    co_await stream_.serve();
  }
  const bool routed = stream_.record().matched_route != nullptr;
  stream_.finish();
  watch_.stop();
  if (response_ended_ && !routed && response_.status == 404 && !forward_) {
    complete({make_error_code(errc::not_found),
              "client: no target for " + url_.authority + " (port " + std::to_string(url_.port) +
                  "); the client knows " + known_targets(*snap_),
              {}});
  } else if (!abandoned_.empty()) {
    complete({make_error_code(errc::unavailable), abandoned_, {}});
  } else if (response_ended_) {
    complete({{}, {}, std::move(response_)});
  } else if (forced) {
    complete({make_error_code(errc::unavailable),
              std::string(who_) + ": closed while the request was in flight",
              {}});
  } else if (response_started_) {
    complete({make_error_code(errc::unavailable),
              std::string(who_) + ": the response was cut after " + std::to_string(body_bytes_) +
                  " body bytes (status " + std::to_string(response_.status) + ")",
              {}});
  } else {
    complete({make_error_code(errc::unavailable),
              std::string(who_) + ": the request ended without a response",
              {}});
  }
}

void host_call::complete(client_result result) noexcept {
  if (!done_) return;
  completion done = std::move(done_);
  done_ = nullptr;
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    worker_.log().log(log_level::error, "{}: a completion handler threw: {}", who_, e.what());
  } catch (...) {
    worker_.log().log(log_level::error, "{}: a completion handler threw", who_);
  }
}

std::string known_targets(const snapshot& snap) {
  std::string out;
  for (const auto& l : snap.listeners)
    for (const route& r : l.table->routes()) {
      if (r.hostnames.empty()) continue;
      out.append(out.empty() ? "" : ", ")
          .append(r.hostnames.front())
          .append(":")
          .append(std::to_string(l.config.port));
    }
  return out.empty() ? std::string("no targets") : out;
}

void host_call::interrupt(bool force) noexcept {
  if (!force) return;  // a drain lets the call finish
  forced = true;
  closed = true;
  stream_.interrupt();
  stream_.close_upstream();
}

std::pair<std::string_view, std::uint16_t> host_call::local_address() noexcept {
  return {"127.0.0.1"sv, url_.port};
}

body_view host_call::peek_body(std::vector<asio::const_buffer>& out) {
  return whole_body(body_, body_released_, out);
}

asio::awaitable<body_read> host_call::read_body(std::size_t) {
  co_return body_read::gone;  // peek_body always had the end
}

void host_call::start_response(const response_start& r) {
  response_started_ = true;
  response_.status = r.status;
  response_.headers = copy_fields(r.fields);
}

void host_call::send_body(std::span<const asio::const_buffer> pieces, std::uint64_t bytes) {
  body_bytes_ += bytes;
  for (const asio::const_buffer& b : pieces) {
    const std::string_view piece(static_cast<const char*>(b.data()), b.size());
    if (request_.on_body)
      hand_on(piece);
    else
      response_.body.append(piece);
  }
}

asio::awaitable<bool> host_call::send(bool end, std::span<const http::header> trailers) {
  if (end) {
    response_.trailers = copy_fields(trailers);
    response_ended_ = true;
  }
  co_return !gone();
}

asio::awaitable<bool> host_call::send_interim(int, std::string_view,
                                              std::span<const http::header>) {
  co_return !gone();  // a 1xx is not part of what a call returns
}

asio::awaitable<bool> host_call::send_local(const local_answer& a) {
  local_response r = wire_answer(a, scratch_);
  response_.status = r.status;
  response_.headers = std::move(r.headers);
  if (request_.on_body && !r.body.empty())
    hand_on(r.body);
  else
    response_.body = std::move(r.body);
  response_started_ = response_ended_ = true;
  co_return true;
}

void host_call::to_host(std::string_view method, std::string_view target,
                        std::span<const http::header> fields, std::string_view body) {
  forwarded_request r;
  r.method.assign(method);
  r.target.assign(target);
  r.headers = copy_fields(fields);
  r.body.assign(body);
  forward_(std::move(r));
}

void host_call::hand_on(std::string_view piece) noexcept {
  if (closed) return;
  try {
    request_.on_body(piece);
  } catch (const std::exception& e) {
    abandoned_ = std::string("client: on_body threw: ") + e.what();
  } catch (...) {
    abandoned_ = "client: on_body threw";
  }
  if (!abandoned_.empty()) {
    closed = true;  // the stream stops relaying; the upstream connection is not reused
    stream_.close_upstream();
  }
}

void host_call::drop() noexcept {
  closed = true;
}

}  // namespace gateway
