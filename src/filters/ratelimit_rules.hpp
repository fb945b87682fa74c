#pragma once
// The rate limit rules both limiters share, in Envoy Gateway's rateLimit
// shape: client selectors (headers Exact/Distinct/RegularExpression,
// sourceCIDR Exact/Distinct) and a limit per unit, read once; matching a
// request gives the key of its bucket.
#include <re2/re2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "filters/client_address.hpp"
#include "filters/json_config.hpp"

namespace gateway::filters {

struct header_selector {
  std::string name;
  enum class match { exact, distinct, regex } type = match::exact;
  std::string value;
  std::shared_ptr<RE2> regex;
};
struct source_selector {
  cidr range;
  bool distinct = false;
};
struct selector {
  std::vector<header_selector> headers;
  std::optional<source_selector> source;
};

struct limit_spec {
  std::vector<selector> selectors;  // any may match; none: every request
  std::uint64_t requests = 0;
  std::int64_t period_s = 0;  // 1, 60, 3600 or 86400
  bool distinct = false;      // some selector keys buckets by value
};

// FNV-1a of `s` folded into `h`.
std::uint64_t mix(std::uint64_t h, std::string_view s);
// The rules at `key` (required, non-empty), with their field paths in errors.
std::vector<limit_spec> read_limit_rules(const json_object& o, std::string_view key);
// Whether `spec` applies to the request; `key` (seeded with the route) then
// identifies its bucket. Only during on_request.
bool applies(const limit_spec& spec, filter_context& ctx, std::uint64_t& key);
// The seed of bucket keys: the matched route rule, so limits are per route.
std::uint64_t route_key(filter_context& ctx);

}  // namespace gateway::filters
