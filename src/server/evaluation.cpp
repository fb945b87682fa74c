// In-process evaluation: the request is written as the bytes a client would
// send and parsed by the same parser, routed by plan_route, run through a
// real filter chain (pauses waited for on this thread), and the upstream
// head or the local reply written by the functions a connection uses, then
// parsed back, so an evaluation reports what the wire would carry.
#include "server/evaluation.hpp"

#include <gateway/error.hpp>

#include <condition_variable>
#include <random>

#include "core/json_writer.hpp"
#include "filters/client_address.hpp"
#include "filters/filter_chain.hpp"
#include "http1/serializer.hpp"
#include "pipeline/request_steps.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {

std::uint64_t random_bits() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine();
}

struct parsed_url {
  bool https = false;
  bool absolute = false;
  std::string authority;  // host[:port]
  std::uint16_t port = 0;
  std::string target;  // origin form
};

parsed_url parse_url(std::string_view url) {
  parsed_url u;
  std::string_view rest = url;
  if (rest.starts_with("http://") || rest.starts_with("https://")) {
    u.absolute = true;
    u.https = rest[4] == 's';
    rest.remove_prefix(u.https ? 8 : 7);
    const std::size_t end = rest.find_first_of("/?");
    u.authority.assign(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    u.port = u.https ? 443 : 80;
    const std::size_t colon = u.authority.rfind(':');
    if (colon != std::string::npos && u.authority.find(']', colon) == std::string::npos) {
      unsigned port = 0;
      auto [p, ec] = std::from_chars(u.authority.data() + colon + 1,
                                     u.authority.data() + u.authority.size(), port);
      if (ec != std::errc() || p != u.authority.data() + u.authority.size() || port == 0 ||
          port > 65535)
        throw error(errc::invalid_config,
                    "evaluate: the URL's port is not a number from 1 to 65535");
      u.port = static_cast<std::uint16_t>(port);
    }
    if (u.authority.empty()) throw error(errc::invalid_config, "evaluate: the URL has no host");
  }
  u.target.assign(rest.empty() ? "/"sv : rest);
  if (!u.absolute && u.target.front() != '/' && u.target != "*")
    throw error(errc::invalid_config,
                "evaluate: the URL must be http://..., https://... or start with '/'");
  return u;
}

// The socket group a connection for `u` would arrive on.
const socket_group* find_group(const snapshot& snap, const parsed_url& u,
                               std::string_view listener) {
  if (!listener.empty()) {
    for (const auto& g : snap.groups)
      for (std::size_t i : g.members)
        if (snap.listeners[i].config.name == listener) return &g;
    throw error(errc::not_found, "evaluate: no listener named '" + std::string(listener) + "'");
  }
  if (snap.groups.empty()) throw error(errc::not_found, "evaluate: the config has no listener");
  if (!u.absolute) return &snap.groups.front();
  for (const auto& g : snap.groups) {
    if ((g.tls != nullptr) != u.https) continue;
    for (std::size_t i : g.members) {
      const listener_config& c = snap.listeners[i].config;
      if (c.port == u.port || c.bind_port == u.port) return &g;
    }
  }
  // Say what there is, so the caller can fix the URL or name a listener.
  std::string there;
  for (const auto& g : snap.groups)
    for (std::size_t i : g.members) {
      const listener_config& c = snap.listeners[i].config;
      there.append(there.empty() ? "" : ", ")
          .append(c.name)
          .append(c.tls ? " (HTTPS, port " : " (HTTP, port ")
          .append(std::to_string(c.port));
      if (c.bind_port == 0)
        there.append(", bound on an ephemeral port of ").append(c.bind_address);
      else if (c.bind_port != c.port)
        there.append(", bound on ")
            .append(c.bind_address)
            .append(":")
            .append(std::to_string(c.bind_port));
      there.append(")");
    }
  throw error(errc::not_found, std::string("evaluate: no ") + (u.https ? "HTTPS" : "HTTP") +
                                   " listener on port " + std::to_string(u.port) +
                                   "; the listeners are: " + there);
}

std::vector<evaluation_header> owned(std::span<const http::header> fields) {
  std::vector<evaluation_header> out;
  out.reserve(fields.size());
  for (const auto& h : fields)
    out.emplace_back(h.name, h.value);
  return out;
}

// One evaluation's state: the chain, its pauses, and what it decided.
class evaluation final : public chain_observer {
 public:
  evaluation(const snapshot& snap, const logger& log, evaluation_result& out)
      : snap_(snap), log_(log), out_(out) {
    chain_.set_observer(this);
    chain_.set_error_log([this](std::string_view what) {
      log_.log(log_level::error, what, " [evaluation ", out_.request_id, "]");
    });
    chain_.set_waker([this]() -> std::function<void()> {
      const std::uint64_t generation = generation_;
      return [state = wake_, generation] {
        std::lock_guard lock(state->mutex);
        if (state->generation == generation) state->woken = true;
        state->cv.notify_all();
      };
    });
  }
  ~evaluation() {
    if (!chain_.in_use()) return;
    chain_.run_log();
    bool waf_ran = false;
    for (const auto& f : out_.filters)
      waf_ran = waf_ran || f.filter == "waf";
    if (waf_ran) out_.waf_action = "pass";
    for (const auto& [key, value] : chain_.all_metadata()) {
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
    chain_.finish();
  }

  void ran(std::size_t filter, std::string_view phase, filter_status s) override {
    const char* decision = s == filter_status::next    ? "continue"
                           : s == filter_status::pause ? "pause"
                           : chain_.dropped()          ? "drop"
                                                       : "reply";
    out_.filters.push_back({std::string(chain_.filter_name(filter)), std::string(phase), decision});
  }

  void run(const evaluation_request& rq, const parsed_url& url, const socket_group& group);

 private:
  struct wake_state {
    std::mutex mutex;
    std::condition_variable cv;
    bool woken = false;
    std::uint64_t generation = 0;
  };
  enum class phase { request, request_body, response, response_body };

  filter_status run_chain(phase p);
  // Answers for the gateway: response filters, then the bytes parsed back.
  void reply(int status, std::string_view body, bool close, const owned_fields* made = nullptr,
             std::span<const http::header> fields = {});
  void filter_reply(bool close);

  const snapshot& snap_;
  const logger& log_;
  evaluation_result& out_;
  filter_chain chain_;
  std::shared_ptr<wake_state> wake_ = std::make_shared<wake_state>();
  std::uint64_t generation_ = 0;
  std::chrono::milliseconds pause_limit_{30000};

  std::string text_;  // the request as a client would send it
  http1::request_head head_;
  std::string target_buf_, scratch_, cors_origin_, head_out_;
  upstream_scratch upstream_request_;
  owned_fields fields_;  // the gateway's own (Location, a preflight's CORS fields)
  const listener_runtime* listener_ = nullptr;
  bool https_ = false;
  bool head_request_ = false;
  std::string_view body_;
  std::string_view chain_data_;
  bool chain_end_ = false;
  body_chunk chain_chunk_;
  std::vector<http::header>* chain_fields_ = nullptr;
  int chain_status_ = 0;
  std::vector<http::header> reply_fields_;
  bool replying_after_response_ = false;

 public:
  std::size_t cluster = invalid_backend;
  pick_context pick;
};

filter_status evaluation::run_chain(phase p) {
  const bool request_side = p == phase::request || p == phase::request_body;
  std::size_t from = request_side ? 0 : chain_.response_start();
  for (;;) {
    chain_step step;
    switch (p) {
      case phase::request:
        step = chain_.run_request(from);
        break;
      case phase::request_body:
        step = chain_.run_request_body(from, chain_data_, chain_end_);
        break;
      case phase::response:
        step = chain_.run_response(from, chain_status_, *chain_fields_);
        break;
      case phase::response_body:
        step = chain_.run_response_body(from, chain_chunk_);
        break;
    }
    filter_status s = step.status;
    while (s == filter_status::pause) {
      bool woken;
      {
        std::unique_lock lock(wake_->mutex);
        woken = wake_->cv.wait_for(lock, pause_limit_, [&] { return wake_->woken; });
        wake_->woken = false;
        wake_->generation = ++generation_;
      }
      if (!woken) {
        out_.filters.push_back({std::string(chain_.filter_name(step.at)), "resume", "timeout"});
        chain_.send_local_reply(504, "a filter did not resume the request in time\n", {});
        return filter_status::stop;
      }
      s = chain_.run_resumed(step.at);
    }
    {
      std::lock_guard lock(wake_->mutex);  // a handle of a hook that did not pause wakes nothing
      wake_->generation = ++generation_;
      wake_->woken = false;
    }
    if (s == filter_status::stop) return s;
    if (step.status == filter_status::next) return s;
    from = request_side ? step.at + 1 : step.at;  // the paused filter is done
  }
}

void evaluation::reply(int status, std::string_view body, bool close, const owned_fields* made,
                       std::span<const http::header> fields) {
  reply_fields_.clear();
  if (made) made->append_to(reply_fields_);
  reply_fields_.insert(reply_fields_.end(), fields.begin(), fields.end());
  if (!http::find_header(reply_fields_, "content-type"))
    reply_fields_.insert(reply_fields_.begin(), {"content-type"sv, "text/plain; charset=utf-8"sv});
  std::string body_copy;  // the filters may replace what `body` views
  if (chain_.active() && !replying_after_response_ &&
      (chain_.hooks() & (hook_response | hook_response_body))) {
    chain_.clear_reply();
    replying_after_response_ = true;
    chain_fields_ = &reply_fields_;
    chain_status_ = status;
    if (run_chain(phase::response) == filter_status::stop) return filter_reply(close);
    chain_chunk_ = {body, true};
    if (chain_.hooks() & hook_response_body) {
      if (run_chain(phase::response_body) == filter_status::stop) return filter_reply(close);
      body = chain_chunk_.data;
    }
    status = chain_.response_status();
  }
  http1::write_local_reply(head_out_, status, reply_fields_, body, close, out_.request_id,
                           head_request_);
  http1::response_head parsed;
  const std::size_t end = head_out_.find("\r\n\r\n") + 4;
  if (http1::parse_response_head(std::string_view(head_out_).substr(0, end), parsed, 1000) != 0)
    throw error(errc::invalid_state, "evaluate: the local reply did not parse");
  local_response r;
  r.status = parsed.status;
  r.headers = owned(parsed.headers);
  r.body.assign(std::string_view(head_out_).substr(end));
  out_.response = std::move(r);
}

void evaluation::filter_reply(bool close) {
  if (chain_.dropped()) {
    out_.dropped = true;
    out_.response = local_response{};
    return;
  }
  const int status = chain_.reply_status();
  std::vector<http::header> fields(chain_.reply_fields().begin(), chain_.reply_fields().end());
  const std::string body(chain_.reply_body());
  reply(status, body, close, {}, fields);
}

void evaluation::run(const evaluation_request& rq, const parsed_url& url,
                     const socket_group& group) {
  https_ = url.https;
  const listener_runtime& first = snap_.listeners[group.members.front()];
  // The request as a client would write it.
  text_.assign(rq.method.empty() ? "GET"sv : std::string_view(rq.method));
  text_.append(" ").append(url.target).append(" HTTP/1.1\r\n");
  bool has_host = false, has_length = false;
  for (const auto& [name, value] : rq.headers) {
    has_host = has_host || http::iequals(name, "host");
    has_length = has_length || http::iequals(name, "content-length") ||
                 http::iequals(name, "transfer-encoding");
    text_.append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_host && url.absolute) text_.append("host: ").append(url.authority).append("\r\n");
  if (!has_length && !rq.body.empty())
    text_.append("content-length: ").append(std::to_string(rq.body.size())).append("\r\n");
  text_.append("\r\n");
  const std::size_t head_size = text_.size();
  text_.append(rq.body);
  body_ = std::string_view(text_).substr(head_size);

  const listener_limits& limits = first.config.limits;
  const http1::head_limits head_limits{limits.max_request_line, limits.max_request_head,
                                       limits.max_header_count};
  listener_ = &first;
  if (int status = http1::incomplete_request_status(std::string_view(text_).substr(0, head_size),
                                                    head_limits);
      status && head_size > limits.max_request_head) {
    return reply(status, http::reason_phrase(status), true);
  }
  if (int status = http1::parse_request_head(std::string_view(text_).substr(0, head_size), head_,
                                             head_limits)) {
    return reply(status, http::reason_phrase(status), true);
  }
  head_request_ = head_.method == "HEAD";

  const std::string assumed = "127.0.0.1:" + std::to_string(url.port);
  const admission admitted = admit_request(snap_, group, *listener_, head_, assumed, target_buf_);
  const listener_runtime* chosen = admitted.chosen;
  listener_ = admitted.listener;
  const listener_runtime& lr = *listener_;
  out_.listener = lr.config.name;
  std::string_view client = rq.client_ip;
  if (lr.config.xff_trusted_hops)
    client = filters::forwarded_client(head_.headers, rq.client_ip, lr.config.xff_trusted_hops);
  // The request id: the client's, else one made like a connection makes it.
  std::string generated;
  if (const auto* h = http::find_header(head_.headers, "x-request-id");
      h && !h->value.empty() && h->value.size() <= 40) {
    out_.request_id.assign(h->value);
  } else {
    char id[40];
    generated.assign(id, write_request_id(id, random_bits(), random_bits()));
    out_.request_id = generated;
  }

  if (admitted.normalized == normalize_result::reject)
    return reply(400, refused_request_body, true);
  if (admitted.normalized == normalize_result::redirect) {
    fields_.clear();
    fields_.add("location", head_.target);
    return reply(307, {}, head_.chunked || head_.content_length > 0, &fields_);
  }
  const route_plan plan = plan_route(lr, chosen != nullptr, head_, https_, random_bits(), fields_,
                                     scratch_, cors_origin_);
  const route_rule* rule = plan.selection.rule;
  if (rule) {
    const route& r = *plan.selection.matched_route;
    out_.route = r.namespace_name + "/" + r.name;
    out_.rule = rule->name.empty() ? "#" + std::to_string(plan.selection.rule_index) : rule->name;
  }
  if (plan.request_timeout.count() > 0) pause_limit_ = plan.request_timeout;
  const bool has_body = head_.chunked || (head_.has_content_length && head_.content_length > 0);
  bool close = has_body;
  if (!rule) return reply(404, "no route matches this request\n", close);
  if (plan.cors_preflight) return reply(204, {}, close, &fields_);

  if (!lr.config.filters.empty() || !rule->filters.empty()) {
    chain_request cr;
    cr.method = head_.method;
    cr.path = plan.path;
    cr.query = head_.query;
    cr.host = head_.host;
    cr.client_ip = client;
    cr.request_id = out_.request_id;
    cr.listener = lr.config.name;
    cr.matched_route = plan.selection.matched_route;
    cr.matched_rule = rule;
    cr.target = head_.target;
    cr.protocol = "HTTP/1.1";
    if (https_) cr.scheme = "https";
    cr.client_port = 0;
    cr.local_ip = "127.0.0.1";
    cr.local_port = url.port;
    if (!chain_.begin(lr.config.filters, rule->filters, cr, head_.headers))
      return filter_reply(close);
    if ((chain_.hooks() & hook_request) && run_chain(phase::request) != filter_status::next)
      return filter_reply(close);
  }

  // The upstream head, with the filters' edits.
  const bool query_replaced = chain_.active() && chain_.query_changed();
  if (query_replaced) head_.query = chain_.query();
  upstream_head_input in;
  in.request = &head_;
  in.path = plan.path;
  in.query_replaced = query_replaced;
  in.matched_prefix = plan.matched_prefix;
  in.path_regex = plan.path_regex;
  in.rule = rule;
  in.listener = &lr.config;
  in.https = https_;
  in.client_ip = rq.client_ip;
  in.generated_request_id = generated;
  write_upstream_head(head_out_, upstream_request_, in);
  const resolved_rule* resolved = plan.resolved;
  const resolved_backend* backend =
      resolved && !resolved->backends.empty() ? pick_backend(*resolved, random_bits) : nullptr;
  std::string set_cookie;
  if (backend && backend->cluster != invalid_backend) {
    const load_balancer_config& lb = snap_.clusters[backend->cluster].config.load_balancer;
    if (lb.policy == lb_policy::ring_hash || lb.policy == lb_policy::maglev)
      pick.hash = pick_hash(lb.hash, head_.headers, client, random_bits, set_cookie);
  }
  if (chain_.active()) chain_.end_request_head();

  // What the rule answers without an upstream.
  if (rule->redirect) return reply(rule->redirect->status_code, {}, close, &fields_);
  const std::uint64_t max_body = rule->max_request_body.value_or(lr.config.limits.max_request_body);
  if (max_body && head_.has_content_length && head_.content_length > max_body)
    return reply(413, "request body too large\n", true);
  if (!backend) return reply(500, "route has no valid backend\n", close);

  // Filters that look at the body get it in one piece, as if it came in one read.
  if (has_body && chain_.active() && (chain_.hooks() & hook_request_body)) {
    std::string_view data = body_;
    chain_end_ = true;
    if (chain_.wants_whole_body() && data.size() > chain_.body_buffer_limit()) {
      if (chain_.body_overflow_action() != body_overflow::first_part)
        return reply(413, "request body too large\n", true);
      data = data.substr(0, static_cast<std::size_t>(chain_.body_buffer_limit()));
      chain_end_ = false;
    }
    chain_data_ = data;
    if (run_chain(phase::request_body) != filter_status::next) return filter_reply(true);
  }

  if (backend->cluster == invalid_backend) return reply(500, "route backend is invalid\n", close);
  cluster = backend->cluster;
  out_.backend = snap_.clusters[cluster].config.name;
  upstream_request up;
  http1::request_head sent;
  if (http1::parse_request_head(head_out_, sent, http1::head_limits{1 << 20, 1 << 24, 100000}))
    throw error(errc::invalid_state, "evaluate: the upstream head did not parse");
  up.method.assign(sent.method);
  up.target.assign(sent.target);
  up.headers = owned(sent.headers);
  up.body.assign(body_);
  out_.upstream = std::move(up);
}

}  // namespace

evaluator::evaluator(const logger& log) : log_(log), pool_(context_.get_executor()) {}
evaluator::~evaluator() = default;

evaluation_result evaluator::run(const std::shared_ptr<const snapshot>& snap,
                                 const evaluation_request& request) {
  evaluation_result out;
  const parsed_url url = parse_url(request.url);
  const socket_group& group = *find_group(*snap, url, request.listener);
  std::size_t cluster = invalid_backend;
  pick_context pick;
  {
    evaluation e(*snap, log_, out);
    e.run(request, url, group);
    cluster = e.cluster;
    pick = e.pick;
    // The chain's end (on_log, the filters' destructors) runs here, before the result is read.
  }
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
    w.begin_object().field("method", r.upstream->method).field("target", r.upstream->target);
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
