// "global-ratelimit": the local limiter's rules counted in Redis, so several
// gateway processes share one limit. Fixed windows: each (route, rule,
// distinct values, window) is one key, INCR'd and given the window's TTL; a
// count beyond the limit is a 429 until the window ends. The filter pauses
// while Redis answers (pipelined on the limiter's connection, see
// redis_client.hpp). When Redis is down or slower than `timeout`,
// failureMode decides: FailOpen lets the request through, FailClosed answers 503.
#include <gateway/router.hpp>

#include <fmt/format.h>
#include <boost/asio/ip/address.hpp>

#include <charconv>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/global_ratelimit/redis_client.hpp"
#include "filters/ratelimit_rules.hpp"
#include "tls/upstream_tls.hpp"
#include "upstream/dns_message.hpp"

namespace gateway::filters {
namespace {

struct global_config {
  std::vector<limit_spec> rules;
  std::string domain;  // key prefix, so unrelated gateways can share a Redis
  bool fail_open = true;
  std::unique_ptr<redis_client> redis;
  // Requests under every limit, over one (429), and those Redis did not
  // answer (passed or refused as failureMode says).
  verdict_counters counted;  // allowed, limited
  filter_counter unavailable;
};

// Where Redis's answer lands; shared with the callback, which may run after
// the request is gone.
struct answer {
  std::error_code error;
  std::vector<std::int64_t> counts;
};

std::string_view number(char (&buf)[24], std::int64_t n) {
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  return {buf, static_cast<std::size_t>(r.ptr - buf)};
}

class global_filter final : public filter {
 public:
  explicit global_filter(const global_config& c) : c_(c) {}

  filter_status on_request(filter_context& ctx) override {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    // Stable across processes: the route's identity, not an address.
    std::uint64_t seed = mix(0xcbf29ce484222325ULL, ctx.listener());
    if (const route* r = ctx.matched_route()) {
      seed = mix(mix(seed, r->namespace_name), r->name);
      const std::size_t index = static_cast<std::size_t>(ctx.matched_rule() - r->rules.data());
      seed = mix(seed, {reinterpret_cast<const char*>(&index), sizeof index});
    }
    std::vector<std::pair<std::string, std::int64_t>> keys;
    for (std::size_t i = 0; i < c_.rules.size(); ++i) {
      const limit_spec& spec = c_.rules[i];
      std::uint64_t key = mix(seed, {reinterpret_cast<const char*>(&i), sizeof i});
      if (!applies(spec, ctx, key)) continue;
      const std::int64_t window = now / spec.period_s;
      char hex[17];
      auto end = std::to_chars(hex, hex + 16, key, 16).ptr;
      keys.emplace_back(c_.domain + ":" + std::string(hex, end) + ":" + std::to_string(window),
                        (window + 1) * spec.period_s - now + 1);
      applied_.push_back({&spec, window});
    }
    if (keys.empty()) return filter_status::next;
    answer_ = std::make_shared<answer>();
    now_ = now;
    c_.redis->count(std::move(keys), [a = answer_, h = ctx.pause_handle()](
                                         std::error_code ec, std::span<const std::int64_t> n) {
      a->error = ec;
      a->counts.assign(n.begin(), n.end());
      h.resume();
    });
    return filter_status::pause;
  }

  filter_status on_resume(filter_context& ctx) override {
    if (answer_->error) {
      ctx.count(c_.unavailable);
      ctx.set_metadata("global-ratelimit", answer_->error == std::errc::permission_denied
                                               ? "redis refused AUTH"
                                               : "redis unavailable");
      if (c_.fail_open) return filter_status::next;
      ctx.send_local_reply(503, "rate limit service unavailable\n");
      return filter_status::stop;
    }
    for (std::size_t i = 0; i < applied_.size() && i < answer_->counts.size(); ++i) {
      const limit_spec& spec = *applied_[i].spec;
      const auto count = static_cast<std::uint64_t>(std::max<std::int64_t>(0, answer_->counts[i]));
      const std::int64_t reset = (applied_[i].window + 1) * spec.period_s - now_;
      const std::uint64_t remaining = count >= spec.requests ? 0 : spec.requests - count;
      if (limit_ == 0 || remaining < remaining_ || count > spec.requests) {
        limit_ = spec.requests;
        remaining_ = remaining;
        reset_ = reset;
      }
      if (count > spec.requests) limited_ = true;
    }
    if (!limited_) return c_.counted.counted(ctx, filter_status::next);
    char text[3][24];
    const http::header fields[] = {
        {"retry-after", number(text[0], reset_)},
        {"x-ratelimit-limit", number(text[1], static_cast<std::int64_t>(limit_))},
        {"x-ratelimit-remaining", "0"},
        {"x-ratelimit-reset", number(text[2], reset_)},
    };
    ctx.send_local_reply(429, "rate limit exceeded\n", fields);
    return c_.counted.counted(ctx, filter_status::stop);
  }

  filter_status on_response(filter_context& ctx) override {
    if (limited_ || limit_ == 0) return filter_status::next;
    char text[3][24];
    header_map& h = ctx.response_headers();
    h.set("x-ratelimit-limit", number(text[0], static_cast<std::int64_t>(limit_)));
    h.set("x-ratelimit-remaining", number(text[1], static_cast<std::int64_t>(remaining_)));
    h.set("x-ratelimit-reset", number(text[2], reset_));
    return filter_status::next;
  }

 private:
  struct applied_rule {
    const limit_spec* spec;
    std::int64_t window;
  };
  const global_config& c_;
  std::vector<applied_rule> applied_;
  std::shared_ptr<answer> answer_;
  std::int64_t now_ = 0, reset_ = 0;
  std::uint64_t limit_ = 0, remaining_ = 0;
  bool limited_ = false;
};

}  // namespace

std::shared_ptr<const filter_factory> make_global_ratelimit(std::string_view json,
                                                            filter_factory_context& context) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"rules", "redis"});
  auto c = std::make_unique<global_config>();
  c->rules = read_limit_rules(o, "rules");
  const json_value* rv = o.if_contains("redis");
  if (!rv) config_error("redis", "required field is missing (address of the Redis server)");
  const json_object& r = as_object(*rv, "redis");
  check_fields(r, "redis", {"address", "timeout", "failureMode", "domain", "auth", "tls"});
  redis_client::options ro;
  const std::string address = *string_field(r, "address", "redis", true);
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) config_error("redis.address", "must be host:port");
  ro.host = address.substr(0, colon);
  if (ro.host.size() > 2 && ro.host.front() == '[' && ro.host.back() == ']')
    ro.host = ro.host.substr(1, ro.host.size() - 2);
  unsigned port = 0;
  auto pr = std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
  if (pr.ec != std::errc() || pr.ptr != address.data() + address.size() || port == 0 ||
      port > 65535)
    config_error("redis.address", fmt::format("'{}' has no valid port", address));
  ro.port = static_cast<std::uint16_t>(port);
  {
    boost::system::error_code ec;
    boost::asio::ip::make_address(ro.host, ec);
    if (ec && !dns::dns_name(ro.host))
      config_error("redis.address",
                   fmt::format("'{}' is neither an IP address nor a DNS name", ro.host));
  }
  if (const json_value* av = r.if_contains("auth")) {
    // A YAML policy names a Secret (auth.secretRef), which the loader reads
    // into these; a config built in code gives them here.
    const json_object& a = as_object(*av, "redis.auth");
    check_fields(a, "redis.auth", {"username", "password"});
    ro.username = string_field(a, "username", "redis.auth").value_or("");
    ro.password = *string_field(a, "password", "redis.auth", true);
    if (ro.password.empty()) config_error("redis.auth.password", "must not be empty");
  }
  if (const json_value* tv = r.if_contains("tls")) {
    // A YAML policy names its CA by a Secret (tls.caCertificateRef), which
    // the loader reads into caPem; without one the system's CAs are trusted.
    const json_object& t = as_object(*tv, "redis.tls");
    check_fields(t, "redis.tls", {"caPem", "serverName", "insecureSkipVerify"});
    upstream_tls_config tc;
    tc.enabled = true;
    tc.ca_pem = string_field(t, "caPem", "redis.tls").value_or("");
    tc.system_ca = tc.ca_pem.empty();
    tc.sni = string_field(t, "serverName", "redis.tls").value_or("");
    tc.insecure_skip_verify = bool_field(t, "insecureSkipVerify", "redis.tls").value_or(false);
    tc.alpn.clear();                                           // Redis speaks no ALPN protocol
    ro.tls = std::make_shared<const tls::client_context>(tc);  // a bad CA: a config error
  }
  ro.timeout = duration_field(r, "timeout", "redis").value_or(std::chrono::milliseconds(100));
  if (ro.timeout.count() <= 0) config_error("redis.timeout", "must be positive");
  const std::string mode = string_field(r, "failureMode", "redis").value_or("FailOpen");
  if (mode != "FailOpen" && mode != "FailClosed")
    config_error("redis.failureMode", "must be FailOpen or FailClosed");
  c->fail_open = mode == "FailOpen";
  c->domain = string_field(r, "domain", "redis").value_or("gateway-ratelimit");
  ro.services = &context.services();
  c->redis = std::make_unique<redis_client>(ro);
  c->counted = verdict_counters(context, "limited");
  c->unavailable = context.counter("unavailable");
  return make_factory<global_filter>(std::move(c), hook_request | hook_response);
}

}  // namespace gateway::filters
