// "local-ratelimit": token buckets in Envoy Gateway's rateLimit.local shape.
// A rule applies when all its client selectors match (headers Exact/Distinct/
// RegularExpression, sourceCIDR Exact/Distinct); Distinct selectors give each
// value its own bucket. Buckets are per route. Over the limit: 429 with
// Retry-After; every limited response carries X-RateLimit-Limit/-Remaining/-Reset.
//
// Globally correct per process: the workers share one table of buckets (GCRA:
// one atomic "theoretical arrival time" per bucket, updated by compare-and-
// swap), rather than splitting the budget per worker, which would refuse
// early whenever the kernel spreads one client's connections unevenly.
#include <re2/re2.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/ratelimit_rules.hpp"

namespace gateway::filters {
namespace {

using clock = std::chrono::steady_clock;

// One bucket: the hash of its key (0: free) and its GCRA arrival time.
struct slot {
  std::atomic<std::uint64_t> key{0};
  std::atomic<std::int64_t> tat{0};  // nanoseconds since the table's epoch
};

struct limit_rule {
  limit_spec spec;
  std::uint64_t requests = 0;
  std::int64_t period_ns = 0;
  std::int64_t interval_ns = 0;  // period / requests
  std::size_t slots = 1;
  std::unique_ptr<slot[]> table;
};

struct limit_config {
  std::vector<limit_rule> rules;
  clock::time_point epoch = clock::now();
  verdict_counters counted;  // allowed, limited
};

// What the most constraining rule said, for the X-RateLimit fields.
struct verdict {
  bool limited = false;
  std::uint64_t limit = 0, remaining = UINT64_MAX;
  std::int64_t reset_s = 0, retry_s = 0;
};

// Takes one token from the bucket for `key`; fills `v` with what it saw.
void take(limit_rule& rule, std::uint64_t key, std::int64_t now, verdict& v) {
  key |= 1;                                                    // 0 marks a free slot
  const std::int64_t tau = rule.period_ns - rule.interval_ns;  // burst: `requests` at once
  slot* s = &rule.table[0];
  if (rule.slots > 1) {
    // Up to 8 slots are probed; a free one, or one whose bucket is full again
    // (idle since), is taken over. With none, the key shares the first: it can
    // only be limited sooner, never later.
    const std::size_t start = static_cast<std::size_t>(key) & (rule.slots - 1);
    slot* reusable = nullptr;
    s = nullptr;
    for (std::size_t i = 0; i < 8 && !s; ++i) {
      slot& c = rule.table[(start + i) & (rule.slots - 1)];
      std::uint64_t k = c.key.load(std::memory_order_acquire);
      if (k == key)
        s = &c;
      else if (k == 0 && c.key.compare_exchange_strong(k, key))
        s = &c;
      else if (!reusable && c.tat.load(std::memory_order_relaxed) <= now)
        reusable = &c;
    }
    if (!s && reusable) {
      std::uint64_t k = reusable->key.load();
      reusable->key.compare_exchange_strong(k, key);
      s = reusable;
    }
    if (!s) s = &rule.table[start];
  }
  std::int64_t tat = s->tat.load(std::memory_order_relaxed);
  std::int64_t next;
  bool allowed;
  do {
    const std::int64_t base = std::max(tat, now);
    next = base + rule.interval_ns;
    allowed = next - now <= rule.period_ns;
    if (!allowed) break;
  } while (!s->tat.compare_exchange_weak(tat, next, std::memory_order_relaxed));
  const std::int64_t after = allowed ? next : std::max(tat, now);
  const auto remaining = static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, now + rule.period_ns - after) / rule.interval_ns);
  constexpr std::int64_t second = 1'000'000'000;
  if (!allowed) {
    v.limited = true;
    v.retry_s = std::max<std::int64_t>(v.retry_s, (tat - tau - now + second - 1) / second);
    if (v.retry_s < 1) v.retry_s = 1;
  }
  if (remaining < v.remaining || !allowed) {
    v.limit = rule.requests;
    v.remaining = allowed ? remaining : 0;
    v.reset_s = std::max<std::int64_t>(1, (after - now + second - 1) / second);
  }
}

class ratelimit_filter final : public filter {
 public:
  explicit ratelimit_filter(limit_config& c) : c_(c) {}
  filter_status on_request(filter_context& ctx) override {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - c_.epoch).count();
    const std::uint64_t seed = route_key(ctx);
    for (limit_rule& rule : c_.rules) {
      std::uint64_t key = seed;
      if (applies(rule.spec, ctx, key)) take(rule, key, now, v_);
    }
    if (!v_.limited) return c_.counted.counted(ctx, filter_status::next);
    char text[5][24];
    const http::header fields[] = {
        {"retry-after", number(text[0], v_.retry_s)},
        {"x-ratelimit-limit", number(text[1], static_cast<std::int64_t>(v_.limit))},
        {"x-ratelimit-remaining", "0"},
        {"x-ratelimit-reset", number(text[2], v_.reset_s)},
    };
    ctx.send_local_reply(429, "rate limit exceeded\n", fields);
    replied_ = true;
    return c_.counted.counted(ctx, filter_status::stop);
  }
  filter_status on_response(filter_context& ctx) override {
    if (replied_ || v_.limit == 0) return filter_status::next;
    char text[3][24];
    header_map& h = ctx.response_headers();
    h.set("x-ratelimit-limit", number(text[0], static_cast<std::int64_t>(v_.limit)));
    h.set("x-ratelimit-remaining", number(text[1], static_cast<std::int64_t>(v_.remaining)));
    h.set("x-ratelimit-reset", number(text[2], v_.reset_s));
    return filter_status::next;
  }

 private:
  static std::string_view number(char (&buf)[24], std::int64_t n) {
    auto r = std::to_chars(buf, buf + sizeof buf, n);
    return {buf, static_cast<std::size_t>(r.ptr - buf)};
  }
  limit_config& c_;
  verdict v_;
  bool replied_ = false;
};

}  // namespace

std::shared_ptr<const filter_factory> make_local_ratelimit(std::string_view json,
                                                           filter_factory_context& context) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"rules", "tableSize"});
  auto c = std::make_unique<limit_config>();
  const std::size_t table =
      static_cast<std::size_t>(int_field(o, "tableSize", "", 64, 1 << 22).value_or(16384));
  if (table & (table - 1)) config_error("tableSize", "must be a power of two");
  for (limit_spec& spec : read_limit_rules(o, "rules")) {
    limit_rule rule;
    rule.requests = spec.requests;
    rule.period_ns = spec.period_s * 1'000'000'000;
    rule.interval_ns =
        std::max<std::int64_t>(1, rule.period_ns / static_cast<std::int64_t>(rule.requests));
    rule.slots = spec.distinct ? table : 64;
    rule.spec = std::move(spec);
    // Without distinct values there are few keys (one per route): a small table.
    rule.table = std::make_unique<slot[]>(rule.slots);
    c->rules.push_back(std::move(rule));
  }
  c->counted = verdict_counters(context, "limited");
  return make_factory<ratelimit_filter>(std::move(c), hook_request | hook_response);
}

}  // namespace gateway::filters
