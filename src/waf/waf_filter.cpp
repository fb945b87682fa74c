// The "waf" filter: one ModSecurity transaction per request, its phases run
// while the request is paused, so the worker goes on with its other
// connections. A phase with a body to inspect (work without bound) runs on
// the evaluation pool; one without (bounded by the head's size) runs on the
// worker's own thread when its loop has nothing else ready (idle_queue),
// which saves the two thread switches a hand-off costs. The request head (and
// body, when inspected) is copied for the phases: the connection's buffers
// may be gone by the time a phase runs (a client that disconnected), the
// copies never are.
//
// Flow: on_request copies the head; a request whose body is inspected asks
// for it buffered and the request phases (connection, URI, headers, body) run
// from on_request_body, others from on_request. on_response runs the response
// head phase (and, when the policy inspects response bodies of that type,
// holds the body's first part and runs from on_response_body). on_log hands
// the transaction to the pool for the logging phase, where it is freed.
#include <gateway/error.hpp>
#include <gateway/router.hpp>

#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <mutex>
#include <optional>

#include "filters/builtin.hpp"
#include "filters/filter_chain.hpp"
#include "filters/json_config.hpp"
#include "server/idle_queue.hpp"
#include "waf/evaluation_pool.hpp"
#include "waf/match_log.hpp"
#include "waf/transaction.hpp"
#include "waf/waf_filter.hpp"

namespace gateway::waf {

namespace {

using namespace filters;

struct config {
  std::shared_ptr<const waf_engine> engine;
  waf_mode mode = waf_mode::on;
  waf_exclusions exclusions;
  bool request_body = true;
  std::uint64_t request_body_limit = 13107200;
  body_overflow request_overflow = body_overflow::reject;
  bool response_body = false;
  std::uint64_t response_body_limit = 524288;
  std::vector<std::string> response_types;
  std::shared_ptr<match_log> log;
  // Requests already waiting for an evaluation thread past which a new one
  // is not inspected: answered 503 (overload_pass false) or let through.
  std::size_t max_queued = 1000;
  bool overload_pass = false;
  std::string_view mode_name() const {
    return mode == waf_mode::detection_only ? "DetectionOnly" : "On";
  }
};

// A request's WAF state, shared by its filter and the pool tasks working on
// it (which may outlive the request).
struct job {
  std::shared_ptr<const config> cfg;
  std::mutex running;  // one phase at a time, the logging phase last
  std::unique_ptr<transaction> tx;
  std::atomic<bool> abandoned{false};  // the request ended: skip any phase not begun
  resume_handle resume;

  // Copies of what the phases read.
  std::string method, target, protocol, client_ip, local_ip, request_id, route;
  std::uint16_t client_port = 0, local_port = 0;
  std::vector<std::pair<std::string, std::string>> fields;  // request, then response
  std::string body;
  int status = 0;
  bool inspect_body = false;
  std::size_t logged = 0;  // matches already written
  waf_verdict verdict;     // the transaction's, once it has ended

  match_context context() const {
    return {request_id, client_ip, route, cfg->mode_name(),
            tx ? tx->verdict().action : waf_action::pass};
  }
  // Writes the matches found since the last call to the log and the metrics.
  void report() {
    const auto& all = tx->verdict().matches;
    if (logged == all.size()) return;
    std::span<const waf_match> fresh(all.data() + logged, all.size() - logged);
    logged = all.size();
    const match_context c = context();
    if (cfg->log) cfg->log->write(fresh, c);
    count_matches(fresh, c);
  }
};

void copy_fields(job& j, std::span<const http::header> fields) {
  j.fields.clear();
  j.fields.reserve(fields.size());
  for (const http::header& h : fields)
    j.fields.emplace_back(h.name, h.value);
}

void request_phases(job& j) {
  j.tx =
      std::make_unique<transaction>(*j.cfg->engine, j.cfg->mode, j.cfg->exclusions, j.request_id);
  transaction& t = *j.tx;
  if (t.connection(j.client_ip, j.client_port, j.local_ip, j.local_port)) return;
  if (t.uri(j.method, j.target, j.protocol.substr(j.protocol.find('/') + 1))) return;
  for (const auto& [name, value] : j.fields)
    t.add_request_header(name, value);
  if (t.request_headers()) return;
  if (!j.body.empty()) t.append_request_body(j.body);
  t.request_body();
}

// The logging phase ends the transaction; it is freed here, on the pool.
void finish(job& j) {
  if (!j.tx) return;
  j.tx->logging();
  j.report();
  count_request(j.tx->verdict().action, j.cfg->mode == waf_mode::detection_only);
  j.verdict = std::move(j.tx->verdict());
  j.tx.reset();
}

// The response phases, then at once the logging phase: nothing is left for
// the transaction to see, and it saves the request a trip to the pool.
void response_phases(job& j) {
  transaction& t = *j.tx;
  for (const auto& [name, value] : j.fields)
    t.add_response_header(name, value);
  if (!t.response_headers(j.status, j.protocol)) {
    if (!j.body.empty()) t.append_response_body(j.body);
    t.response_body();
  }
  j.report();
  finish(j);
}

// Queues `task`: on this thread's worker loop when the phase has no body to
// inspect, else on the evaluation pool. False when `max_queued` tasks (0: no
// bound) already wait there.
bool queue_phase(std::function<void()> task, bool bounded, std::size_t max_queued) {
  if (idle_queue* q = bounded ? idle_queue::current() : nullptr; q && !q->stopped()) {
    if (!q->try_push(std::move(task), max_queued)) return false;
    count_phase(true);
    return true;
  }
  if (!evaluation_pool::shared().try_post(std::move(task), max_queued)) return false;
  count_phase(false);
  return true;
}

// Runs `phase` for `j` (see queue_phase), then resumes the request; false
// when `max_queued` tasks already wait.
template <class Phase>
bool post_phase(const std::shared_ptr<job>& j, Phase phase, std::size_t max_queued) {
  const bool bounded = j->body.empty();
  return queue_phase(
      [j, phase] {
        {
          std::lock_guard lock(j->running);
          if (!j->abandoned) {
            try {
              phase(*j);
              if (j->tx) j->report();
            } catch (...) {
              // libmodsecurity does not throw by design; if it does, the request
              // goes on without a verdict rather than hanging.
            }
          }
          j->body.clear();
          j->body.shrink_to_fit();
        }
        j->resume.resume();
      },
      bounded, max_queued);
}

bool has_request_body(filter_context& ctx) {
  const header_map& h = ctx.request_headers();
  if (h.get("transfer-encoding")) return true;
  auto length = h.get("content-length");
  return length && *length != "0";
}

bool inspected_type(const config& c, std::optional<std::string_view> content_type) {
  if (!content_type) return false;
  std::string_view t = *content_type;
  t = t.substr(0, t.find(';'));
  while (!t.empty() && t.back() == ' ')
    t.remove_suffix(1);
  return std::any_of(c.response_types.begin(), c.response_types.end(),
                     [&](const std::string& want) { return http::iequals(want, t); });
}

class waf_filter final : public filter {
 public:
  explicit waf_filter(std::shared_ptr<const config> c) : cfg_(std::move(c)) {}

  filter_status on_request(filter_context& ctx) override {
    if (!cfg_->engine) return filter_status::next;  // mode Off
    held_.emplace(idle_queue::current());
    job_ = std::make_shared<job>();
    job& j = *job_;
    j.cfg = cfg_;
    j.method.assign(ctx.method());
    j.target.assign(ctx.target().empty() ? ctx.path() : ctx.target());
    j.protocol.assign(ctx.protocol());
    j.client_ip.assign(ctx.client_ip());
    j.client_port = ctx.client_port();
    j.local_ip.assign(ctx.local_ip());
    j.local_port = ctx.local_port();
    j.request_id.assign(ctx.request_id());
    if (const route* r = ctx.matched_route())
      j.route.assign(r->namespace_name).append("/").append(r->name);
    copy_fields(j, ctx.request_headers().all());
    if (cfg_->request_body && has_request_body(ctx)) {
      ctx.buffer_request_body(cfg_->request_body_limit, cfg_->request_overflow);
      return filter_status::next;  // the phases run when the body is here
    }
    return start_request(ctx);
  }

  filter_status on_request_body(filter_context& ctx, std::string_view data, bool) override {
    if (!job_ || job_->tx) return filter_status::next;
    job_->body.assign(data);
    return start_request(ctx);
  }

  filter_status on_response(filter_context& ctx) override {
    // Not for the gateway's answer to a request the WAF stopped.
    if (!job_ || !job_->tx || job_->tx->decided()) return filter_status::next;
    job& j = *job_;
    j.status = ctx.response_status();
    copy_fields(j, ctx.response_headers().all());
    if (cfg_->response_body && inspected_type(*cfg_, ctx.response_headers().get("content-type")) &&
        ctx.method() != "HEAD" && j.status != 204 && j.status != 304) {
      j.inspect_body = true;
      ctx.buffer_response_body(cfg_->response_body_limit);
      return filter_status::next;  // the phases run when the body's first part is here
    }
    return start(ctx, response_phases);
  }

  filter_status on_response_body(filter_context& ctx, body_chunk& chunk) override {
    if (!job_ || !job_->inspect_body) return filter_status::next;
    job_->inspect_body = false;  // the first part only; the rest streams
    job_->body.assign(chunk.data.substr(0, cfg_->response_body_limit));
    return start(ctx, response_phases);
  }

  filter_status on_resume(filter_context& ctx) override {
    const waf_verdict& v = job_->tx ? job_->tx->verdict() : job_->verdict;
    if (chain_observer* o = ctx.state<observer_slot>().observer) o->waf_decided(v);
    if (!v.matches.empty()) {
      std::string ids;
      for (const waf_match& m : v.matches) {
        if (!ids.empty()) ids.push_back(',');
        ids.append(std::to_string(m.rule_id));
      }
      ctx.set_metadata("waf.rules", ids);
    }
    if (v.action == waf_action::pass) return filter_status::next;
    ctx.set_metadata("waf.action", to_string(v.action));
    switch (v.action) {
      case waf_action::redirect: {
        const http::header location{"location", v.url};
        ctx.send_local_reply(v.status, "", std::span(&location, 1));
        break;
      }
      case waf_action::drop:
        ctx.drop_connection();
        break;
      default:
        ctx.send_local_reply(v.status, "request blocked by the web application firewall\n");
        break;
    }
    return filter_status::stop;
  }

  void on_log(filter_context&) noexcept override {
    if (!job_) return;
    std::shared_ptr<job> j = std::move(job_);
    j->abandoned = true;  // phases not begun are skipped
    {
      // Ended with the response phases: nothing left. (A phase may still run
      // when the request ended early; then the pool finishes after it.)
      std::unique_lock lock(j->running, std::try_to_lock);
      if (lock.owns_lock() && !j->tx) return;
    }
    try {
      // The response phases never ran (the WAF or another filter answered,
      // the upstream failed, the client left): log what there is.
      queue_phase(
          [j] {
            std::lock_guard lock(j->running);
            try {
              finish(*j);
            } catch (...) {
            }
            j->tx.reset();
          },
          true, 0);
    } catch (...) {
      // Out of memory for the task: the transaction is freed with the job.
    }
  }

 private:
  filter_status start(filter_context& ctx, void (*phase)(job&)) {
    job_->resume = ctx.pause_handle();
    post_phase(job_, phase, 0);
    return filter_status::pause;
  }

  // The request phases, unless the pool is too far behind: then the policy
  // says whether the request waits for nothing (passes uninspected) or gets 503.
  filter_status start_request(filter_context& ctx) {
    job_->resume = ctx.pause_handle();
    if (post_phase(job_, request_phases, cfg_->max_queued)) return filter_status::pause;
    job_.reset();
    count_request(waf_action::pass, false, true);
    ctx.set_metadata("waf.action", cfg_->overload_pass ? "overload-pass" : "overload-reject");
    if (cfg_->overload_pass) return filter_status::next;
    ctx.send_local_reply(503, "the web application firewall is overloaded\n",
                         std::span<const http::header>(&retry_after, 1));
    return filter_status::stop;
  }

  static inline const http::header retry_after{"retry-after", "1"};

  std::shared_ptr<const config> cfg_;
  std::shared_ptr<job> job_;
  // Until the request ends: its phases are the worker's idle work.
  std::optional<idle_queue::hold> held_;
};

class factory final : public filter_factory {
 public:
  explicit factory(std::shared_ptr<const config> c) : cfg_(std::move(c)) {}
  const config& settings() const noexcept { return *cfg_; }
  filter* create(filter_arena& arena) const override { return arena.make<waf_filter>(cfg_); }
  std::uint8_t hooks() const noexcept override {
    if (!cfg_->engine) return 0;  // mode Off
    std::uint8_t h = hook_request | hook_response | hook_log | hook_request_body;
    if (cfg_->response_body) h |= hook_response_body;
    return h;
  }

 private:
  std::shared_ptr<const config> cfg_;
};

int rule_id(const json_value& v, std::string_view path) {
  if (!v.is_int64() || v.as_int64() < 1 || v.as_int64() > 2147483647)
    config_error(path, "must be a rule id (a positive integer)");
  return static_cast<int>(v.as_int64());
}

void read_exclusions(const json_object& o, std::string_view path, waf_exclusions& ex) {
  const auto* list = array_field(o, "exclusions", path);
  if (!list) return;
  const std::string base = field_path(path, "exclusions");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string p = index_path(base, i);
    const json_object& e = as_object((*list)[i], p);
    check_fields(e, p, {"ruleIds", "ruleIdRanges", "tags", "targets"});
    std::vector<int> ids;
    if (const auto* a = array_field(e, "ruleIds", p))
      for (std::size_t k = 0; k < a->size(); ++k)
        ids.push_back(rule_id((*a)[k], index_path(field_path(p, "ruleIds"), k)));
    std::vector<std::pair<int, int>> ranges;
    for (const std::string& r : strings_field(e, "ruleIdRanges", p)) {
      int from = 0, to = 0;
      auto dash = r.find('-');
      bool ok = dash != std::string::npos &&
                std::from_chars(r.data(), r.data() + dash, from).ec == std::errc() &&
                std::from_chars(r.data() + dash + 1, r.data() + r.size(), to).ec == std::errc() &&
                from > 0 && from <= to;
      if (!ok)
        config_error(field_path(p, "ruleIdRanges"), fmt::format("'{}' is not a range FROM-TO", r));
      ranges.emplace_back(from, to);
    }
    std::vector<std::string> tags = strings_field(e, "tags", p);
    std::vector<std::string> targets = strings_field(e, "targets", p);
    if (ids.empty() && ranges.empty() && tags.empty())
      config_error(p, "names no rule (ruleIds, ruleIdRanges or tags)");
    for (const std::string& t : targets) {
      // ARGS:name, REQUEST_COOKIES:name, REQUEST_HEADERS:name, ... (one variable, one key).
      auto colon = t.find(':');
      if (colon == 0 || colon == std::string::npos || colon + 1 == t.size() ||
          !std::all_of(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
            return std::isupper(static_cast<unsigned char>(c)) || c == '_';
          }))
        config_error(field_path(p, "targets"),
                     fmt::format("'{}' is not a variable with a key (like ARGS:name)", t));
      if (!ranges.empty())
        config_error(p, "targets work with ruleIds and tags, not with ruleIdRanges");
    }
    if (targets.empty()) {
      ex.rule_ids.insert(ex.rule_ids.end(), ids.begin(), ids.end());
      ex.rule_id_ranges.insert(ex.rule_id_ranges.end(), ranges.begin(), ranges.end());
      ex.tags.insert(ex.tags.end(), tags.begin(), tags.end());
      continue;
    }
    for (const std::string& t : targets) {
      for (int id : ids)
        ex.targets_by_id.emplace_back(id, t);
      for (const std::string& tag : tags)
        ex.targets_by_tag.emplace_back(tag, t);
    }
  }
}

waf_rule_set read_rule_set(const json_object& o, std::string_view path) {
  waf_rule_set rules;
  const json_value* v = o.if_contains("ruleSet");
  if (!v) config_error(field_path(path, "ruleSet"), "is required (crs, files or directives)");
  const std::string p = field_path(path, "ruleSet");
  const json_object& rs = as_object(*v, p);
  check_fields(rs, p, {"crs", "files", "directives"});
  if (const json_value* crs = rs.if_contains("crs")) {
    const std::string cp = field_path(p, "crs");
    rules.crs = true;
    if (crs->is_bool()) {
      rules.crs = crs->as_bool();
    } else {
      const json_object& c = as_object(*crs, cp);
      check_fields(c, cp, {"paranoiaLevel", "inboundAnomalyThreshold", "outboundAnomalyThreshold"});
      rules.paranoia_level = static_cast<int>(int_field(c, "paranoiaLevel", cp, 1, 4).value_or(1));
      rules.inbound_anomaly_threshold =
          static_cast<int>(int_field(c, "inboundAnomalyThreshold", cp, 1, 100000).value_or(5));
      rules.outbound_anomaly_threshold =
          static_cast<int>(int_field(c, "outboundAnomalyThreshold", cp, 1, 100000).value_or(4));
    }
  }
  rules.files = strings_field(rs, "files", p);
  rules.directives = string_field(rs, "directives", p).value_or("");
  if (!rules.crs && rules.files.empty() && rules.directives.empty())
    config_error(p, "names no rules (crs, files or directives)");
  return rules;
}

}  // namespace

std::optional<waf_use> waf_use_of(const filter_factory& f) {
  const auto* mine = dynamic_cast<const factory*>(&f);
  if (!mine) return std::nullopt;
  const config& c = mine->settings();
  return waf_use{c.engine.get(),    c.mode, &c.exclusions, c.request_body, c.request_body_limit,
                 c.request_overflow};
}

std::shared_ptr<const filter_factory> make_waf_filter(std::string_view json) {
  const json_value root = parse_config(json);
  const json_object& o = as_object(root, "");
  check_fields(o, "",
               {"mode", "ruleSet", "requestBody", "responseBody", "exclusions", "log", "auditLog",
                "overload"});
  auto c = std::make_shared<config>();
  const std::string mode = string_field(o, "mode", "").value_or("On");
  if (mode == "On") {
    c->mode = waf_mode::on;
  } else if (mode == "DetectionOnly") {
    c->mode = waf_mode::detection_only;
  } else if (mode == "Off") {
    c->mode = waf_mode::off;
  } else {
    config_error("mode", fmt::format("must be On, DetectionOnly or Off, not '{}'", mode));
  }
  waf_rule_set rules = read_rule_set(o, "");
  if (const json_value* v = o.if_contains("requestBody")) {
    const json_object& b = as_object(*v, "requestBody");
    check_fields(b, "requestBody", {"enabled", "limit", "overflow"});
    c->request_body = bool_field(b, "enabled", "requestBody").value_or(true);
    c->request_body_limit = static_cast<std::uint64_t>(
        int_field(b, "limit", "requestBody", 1, std::int64_t(1) << 32).value_or(13107200));
    const std::string overflow = string_field(b, "overflow", "requestBody").value_or("Reject");
    if (overflow == "Reject") {
      c->request_overflow = body_overflow::reject;
    } else if (overflow == "ProcessPartial") {
      c->request_overflow = body_overflow::first_part;
    } else {
      config_error("requestBody.overflow",
                   fmt::format("must be Reject or ProcessPartial, not '{}'", overflow));
    }
  }
  if (const json_value* v = o.if_contains("responseBody")) {
    const json_object& b = as_object(*v, "responseBody");
    check_fields(b, "responseBody", {"enabled", "limit", "mimeTypes"});
    c->response_body = bool_field(b, "enabled", "responseBody").value_or(false);
    c->response_body_limit = static_cast<std::uint64_t>(
        int_field(b, "limit", "responseBody", 1, std::int64_t(1) << 30).value_or(524288));
    if (b.if_contains("mimeTypes"))
      rules.response_mime_types = strings_field(b, "mimeTypes", "responseBody");
  }
  rules.response_body = c->response_body;
  c->response_types = rules.response_mime_types;
  read_exclusions(o, "", c->exclusions);
  log_format format = log_format::text;
  std::string log_path = "-";
  if (const json_value* v = o.if_contains("log")) {
    const json_object& l = as_object(*v, "log");
    check_fields(l, "log", {"path", "format"});
    log_path = string_field(l, "path", "log").value_or("-");
    const std::string f = string_field(l, "format", "log").value_or("Text");
    if (f == "JSON") {
      format = log_format::json;
    } else if (f != "Text") {
      config_error("log.format", fmt::format("must be JSON or Text, not '{}'", f));
    }
  }
  if (const json_value* v = o.if_contains("overload")) {
    const json_object& l = as_object(*v, "overload");
    check_fields(l, "overload", {"maxQueued", "action"});
    c->max_queued =
        static_cast<std::size_t>(int_field(l, "maxQueued", "overload", 1, 1000000).value_or(1000));
    const std::string action = string_field(l, "action", "overload").value_or("Reject");
    if (action == "Pass") {
      c->overload_pass = true;
    } else if (action != "Reject") {
      config_error("overload.action", fmt::format("must be Reject or Pass, not '{}'", action));
    }
  }
  if (const json_value* v = o.if_contains("auditLog")) {
    const json_object& a = as_object(*v, "auditLog");
    check_fields(a, "auditLog", {"path"});
    rules.audit_log = string_field(a, "path", "auditLog", true).value_or("");
  }
  if (c->mode != waf_mode::off) {
    c->engine = waf_engine::load(rules);  // throws with libmodsecurity's message
    c->log = match_log::open(log_path, format);
  }
  return std::make_shared<factory>(std::move(c));
}

}  // namespace gateway::waf
