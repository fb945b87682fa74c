// In-process evaluation: the request is written as the bytes a client would
// send, parsed by the same parser, and served by the same pipeline a
// connection's stream runs (routing, filters with their pauses, header
// policy, the answers the gateway makes), on an event loop of the calling
// thread, up to the upstream request, which is reported instead of sent.
#include "server/evaluation.hpp"

#include <gateway/error.hpp>

#include "core/json_writer.hpp"
#include "filters/filter_chain.hpp"
#include "http1/serializer.hpp"
#include "server/target_url.hpp"
#include "server/worker.hpp"
#include "stream/downstream.hpp"
#include "stream/stream.hpp"
#include "transport/watchdog.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {

// One evaluation: an in-memory client whose request the pipeline serves on
// an event loop of its own, exactly as a connection's stream serves it, up
// to the upstream request (handed to the tap, not sent). The answer the
// gateway would write is kept instead of sent.
class evaluation final : public downstream, public chain_observer, public stream::upstream_tap {
 public:
  evaluation(const snapshot& snap, const socket_group& group, server_shared& shared,
             evaluation_result& out, evaluation_detail* detail)
      : out_(out),
        detail_(detail),
        worker_(shared, 0, &context_),
        watch_(context_.get_executor()),
        stream_(*this, worker_, watch_, context_.get_executor()) {
    this->snap = &snap;
    listener_group = &group;
    listener = &snap.listeners[group.members.front()];
    protocol = "HTTP/1.1"sv;
    stream_.filters().set_observer(this);
    stream_.set_tap(this);
  }

  void run(const evaluation_request& rq, const parsed_url& url);

  std::size_t cluster = invalid_backend;
  pick_context pick;

  // chain_observer
  void ran(std::size_t filter, std::string_view phase, filter_status s) override {
    filter_chain& chain = stream_.filters();
    const char* decision = s == filter_status::next    ? "continue"
                           : s == filter_status::pause ? "pause"
                           : chain.dropped()           ? "drop"
                                                       : "reply";
    out_.filters.push_back({std::string(chain.filter_name(filter)), std::string(phase), decision});
  }
  void waf_decided(const waf_verdict& verdict) override {
    if (detail_) detail_->waf = verdict;
  }
  void resume_timed_out(std::size_t filter) override {
    out_.filters.push_back(
        {std::string(stream_.filters().filter_name(filter)), "resume", "timeout"});
  }

  // stream::upstream_tap
  void to_upstream(std::size_t c, const pick_context& p, std::string_view head,
                   const h2_request* h2) override {
    cluster = c;
    pick = p;
    out_.backend = snap->clusters[c].config.name;
    if (h2) {
      upstream_request up;
      up.protocol = "HTTP/2";
      up.method.assign(h2->method);
      up.target.assign(h2->target);
      up.headers.push_back({":authority", std::string(h2->authority)});
      for (const http::header& f : h2->fields) {
        std::string name(f.name);
        for (char& ch : name)
          if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + ('a' - 'A'));
        up.headers.push_back({std::move(name), std::string(f.value)});
      }
      up.body.assign(body_);
      out_.upstream = std::move(up);
      return;
    }
    http1::request_head sent;
    if (http1::parse_request_head(head, sent, http1::head_limits{1 << 20, 1 << 24, 100000}))
      throw error(errc::invalid_state, "evaluate: the upstream head did not parse");
    upstream_request up;
    up.method.assign(sent.method);
    up.target.assign(sent.target);
    up.headers = copy_fields(sent.headers);
    up.body.assign(body_);
    out_.upstream = std::move(up);
  }

  // downstream
  std::pair<std::string_view, std::uint16_t> local_address() noexcept override {
    return {"127.0.0.1"sv, local_port_};
  }
  std::weak_ptr<void> owner() noexcept override { return alive_; }
  void release_head() noexcept override {}
  body_view peek_body(std::vector<asio::const_buffer>& out) override {
    return whole_body(body_, body_released_, out);
  }
  void release_body() noexcept override { body_released_ = true; }
  asio::awaitable<body_read> read_body(std::size_t) override {
    co_return body_read::gone;  // peek_body always had the end
  }
  void start_response(const response_start& r) override {
    response_ = local_response{};
    response_.status = r.status;
    response_.headers = copy_fields(r.fields);
  }
  void send_body(std::span<const asio::const_buffer> pieces, std::uint64_t) override {
    for (const asio::const_buffer& b : pieces)
      response_.body.append(static_cast<const char*>(b.data()), b.size());
  }
  asio::awaitable<bool> send(bool end, std::span<const http::header>) override {
    if (end) out_.response = response_;
    co_return true;
  }
  asio::awaitable<bool> send_interim(int, std::string_view,
                                     std::span<const http::header>) override {
    co_return true;  // not part of what an evaluation reports
  }
  asio::awaitable<bool> send_local(const local_answer& a) override {
    out_.response = wire_answer(a, head_out_);
    co_return true;
  }
  void drop() noexcept override {
    out_.dropped = true;
    out_.response = local_response{};
    closed = true;
  }
  void end_after_response() noexcept override {}

 private:
  asio::awaitable<void> serve(int refused);
  // What the filters left: the WAF's verdict and rules, their metadata.
  void collect();

  evaluation_result& out_;
  evaluation_detail* detail_;
  asio::io_context context_;
  worker worker_;
  transport::watchdog watch_;
  stream stream_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::string text_;  // the request as a client would send it
  std::string_view body_;
  bool body_released_ = false;
  std::uint16_t local_port_ = 0;
  std::string head_out_;
  local_response response_;
};

asio::awaitable<void> evaluation::serve(int refused) {
  if (refused) {
    stream_.forget_request();
    co_await stream_.local_reply(refused, http::reason_phrase(refused), true);
  } else {
    co_await stream_.serve();
  }
  watch_.stop();
}

void evaluation::run(const evaluation_request& rq, const parsed_url& url) {
  https = url.https || listener_group->tls != nullptr;
  client_ip = rq.client_ip;
  local_port_ = url.port;
  const std::size_t head_size = write_request_text(text_, rq.method, url, rq.headers, rq.body);
  body_ = std::string_view(text_).substr(head_size);

  // The head is read and checked as a connection reads it.
  const listener_limits& limits = listener->config.limits;
  const http1::head_limits head_limits{limits.max_request_line, limits.max_request_head,
                                       limits.max_header_count};
  const std::string_view head = std::string_view(text_).substr(0, head_size);
  int refused = http1::incomplete_request_status(head, head_limits);
  if (!refused || head_size <= limits.max_request_head) refused = 0;
  if (!refused) refused = http1::parse_request_head(head, stream_.request(), head_limits);

  asio::co_spawn(context_, wake_on_expiry(watch_, stream_), asio::detached);
  asio::co_spawn(context_, serve(refused), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  context_.run();
  if (!refused) {
    out_.listener = stream_.listener()->config.name;
    out_.request_id = stream_.request_id();
    if (detail_) {
      detail_->target.assign(stream_.request().target);
      detail_->listener = stream_.listener();
      detail_->rule = stream_.rule();
    }
  }
  if (const route* r = stream_.record().matched_route) {
    out_.route = r->namespace_name + "/" + r->name;
    const route_rule* rule = stream_.rule();
    out_.rule = rule->name.empty() ? "#" + std::to_string(stream_.rule_index()) : rule->name;
  }
  collect();
}

void evaluation::collect() {
  filter_chain& chain = stream_.filters();
  if (!chain.in_use()) return;
  chain.run_log();
  bool waf_ran = false;
  for (const auto& f : out_.filters)
    waf_ran = waf_ran || f.filter == "waf";
  if (waf_ran) out_.waf_action = "pass";
  for (const auto& [key, value] : chain.all_metadata()) {
    out_.metadata.emplace_back(key, value);
    if (key == "waf.action") out_.waf_action = value;
    if (key != "waf.rules") continue;
    std::string_view ids = value;
    while (!ids.empty()) {
      const std::size_t comma = ids.find(',');
      out_.waf_rules.emplace_back(ids.substr(0, comma));
      ids.remove_prefix(comma == std::string_view::npos ? ids.size() : comma + 1);
    }
  }
  chain.finish();
}

}  // namespace

std::vector<evaluation_header> copy_fields(std::span<const http::header> fields) {
  std::vector<evaluation_header> out;
  out.reserve(fields.size());
  for (const auto& h : fields)
    out.emplace_back(h.name, h.value);
  return out;
}

local_response wire_answer(const local_answer& a, std::string& scratch) {
  // The bytes a connection would write, parsed back: the answer as the wire carries it.
  http1::write_local_reply(scratch, a.status, a.fields, a.body, a.close, a.head_request);
  http1::response_head parsed;
  const std::size_t end = scratch.find("\r\n\r\n") + 4;
  if (http1::parse_response_head(std::string_view(scratch).substr(0, end), parsed, 1000) != 0)
    throw error(errc::invalid_state, "the gateway's own answer did not parse");
  local_response r;
  r.status = parsed.status;
  r.headers = copy_fields(parsed.headers);
  r.body.assign(std::string_view(scratch).substr(end));
  return r;
}

evaluator::evaluator(const logger& log) : pool_(context_.get_executor()) {
  shared_.log = log;
}
evaluator::~evaluator() = default;

evaluation_result evaluate_on(const snapshot& snap, const socket_group& group,
                              const evaluation_request& request, server_shared& shared,
                              evaluation_detail* detail, std::size_t* cluster, pick_context* pick) {
  evaluation_result out;
  evaluation e(snap, group, shared, out, detail);
  e.run(request, parse_url(request.url, "evaluate"));
  if (cluster) *cluster = e.cluster;
  if (pick) *pick = e.pick;
  return out;
}

evaluation_result evaluator::run(const std::shared_ptr<const snapshot>& snap,
                                 const evaluation_request& request) {
  const socket_group& group =
      *find_group(*snap, parse_url(request.url, "evaluate"), request.listener, "evaluate");
  std::size_t cluster = invalid_backend;
  pick_context pick;
  evaluation_result out = evaluate_on(*snap, group, request, shared_, nullptr, &cluster, &pick);
  if (cluster != invalid_backend) {
    std::lock_guard lock(pick_mutex_);
    if (adopted_ != snap) {
      pool_.adopt(*snap);
      adopted_ = snap;
    }
    const std::size_t host = pool_.pick(*snap, cluster, pick, coarse_now());
    if (host != ~std::size_t{0}) out.endpoint = pool_.endpoint(*snap, cluster, host)->name;
  }
  return out;
}

std::string to_json(const evaluation_result& r) {
  std::string out;
  json_writer w(out);
  auto headers = [&](std::string_view key, const std::vector<evaluation_header>& fields) {
    w.key(key).begin_array();
    for (const auto& [name, value] : fields)
      w.begin_array().value(name).value(value).end_array();
    w.end_array();
  };
  w.begin_object();
  w.field("listener", r.listener).field("route", r.route).field("rule", r.rule);
  w.field("request_id", r.request_id);
  w.key("filters").begin_array();
  for (const auto& f : r.filters)
    w.begin_object()
        .field("filter", f.filter)
        .field("phase", f.phase)
        .field("decision", f.decision)
        .end_object();
  w.end_array();
  w.key("waf_rules").begin_array();
  for (const auto& id : r.waf_rules)
    w.value(id);
  w.end_array();
  w.field("waf_action", r.waf_action);
  w.key("metadata").begin_object();
  for (const auto& [key, value] : r.metadata)
    w.field(key, value);
  w.end_object();
  w.key("upstream");
  if (r.upstream) {
    w.begin_object()
        .field("protocol", r.upstream->protocol)
        .field("method", r.upstream->method)
        .field("target", r.upstream->target);
    headers("headers", r.upstream->headers);
    w.field("body", r.upstream->body).end_object();
  } else {
    w.null();
  }
  w.field("backend", r.backend).field("endpoint", r.endpoint);
  w.key("response");
  if (r.response) {
    w.begin_object().field("status", r.response->status);
    headers("headers", r.response->headers);
    w.field("body", r.response->body).end_object();
  } else {
    w.null();
  }
  w.field("dropped", r.dropped);
  w.end_object();
  return out;
}

}  // namespace gateway
