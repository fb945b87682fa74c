#include <fmt/format.h>

#include "filters/ratelimit_rules.hpp"

namespace gateway::filters {
namespace {

// Matches `sel` against the request; extends `key` with distinct values.
bool selector_matches(const selector& sel, filter_context& ctx, std::uint64_t& key) {
  for (const header_selector& h : sel.headers) {
    auto v = ctx.request_headers().get(h.name);
    if (!v) return false;
    if (h.type == header_selector::match::exact && *v != h.value) return false;
    if (h.type == header_selector::match::regex && !RE2::FullMatch(*v, *h.regex)) return false;
    if (h.type == header_selector::match::distinct) key = mix(key, *v);
  }
  if (sel.source) {
    auto a = ip_address::parse(ctx.client_ip());
    if (!a || !sel.source->range.contains(*a)) return false;
    if (sel.source->distinct) key = mix(key, ctx.client_ip());
  }
  return true;
}

selector read_selector(const json_object& o, const std::string& path) {
  check_fields(o, path, {"headers", "sourceCIDR"});
  selector sel;
  if (const auto* hs = array_field(o, "headers", path))
    for (std::size_t i = 0; i < hs->size(); ++i) {
      const std::string hp = index_path(field_path(path, "headers"), i);
      const json_object& h = as_object((*hs)[i], hp);
      check_fields(h, hp, {"name", "type", "value", "invert"});
      header_selector s;
      s.name = *string_field(h, "name", hp, true);
      const std::string type = string_field(h, "type", hp).value_or("Exact");
      if (bool_field(h, "invert", hp).value_or(false))
        config_error(field_path(hp, "invert"), "is not supported yet");
      if (type == "Exact") {
        s.value = *string_field(h, "value", hp, true);
      } else if (type == "Distinct") {
        s.type = header_selector::match::distinct;
        if (h.if_contains("value"))
          config_error(field_path(hp, "value"), "not allowed with Distinct");
      } else if (type == "RegularExpression") {
        s.type = header_selector::match::regex;
        s.regex = std::make_shared<RE2>(*string_field(h, "value", hp, true), RE2::Quiet);
        if (!s.regex->ok())
          config_error(field_path(hp, "value"), fmt::format("invalid regex: {}", s.regex->error()));
      } else {
        config_error(field_path(hp, "type"), "must be Exact, Distinct or RegularExpression");
      }
      sel.headers.push_back(std::move(s));
    }
  if (const json_value* src = o.if_contains("sourceCIDR")) {
    const std::string sp = field_path(path, "sourceCIDR");
    const json_object& so = as_object(*src, sp);
    check_fields(so, sp, {"type", "value"});
    const std::string type = string_field(so, "type", sp).value_or("Exact");
    if (type != "Exact" && type != "Distinct")
      config_error(field_path(sp, "type"), "must be Exact or Distinct");
    auto range = cidr::parse(*string_field(so, "value", sp, true));
    if (!range) config_error(field_path(sp, "value"), "is not an IPv4 or IPv6 CIDR");
    sel.source = source_selector{*range, type == "Distinct"};
  }
  if (sel.headers.empty() && !sel.source) config_error(path, "needs headers or sourceCIDR");
  return sel;
}

}  // namespace

std::uint64_t mix(std::uint64_t h, std::string_view s) {
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001b3ULL;  // FNV-1a
  return (h ^ 0xff) * 0x100000001b3ULL;
}

std::uint64_t route_key(filter_context& ctx) {
  const route_rule* rule = ctx.matched_rule();
  return mix(0xcbf29ce484222325ULL, {reinterpret_cast<const char*>(&rule), sizeof rule});
}

bool applies(const limit_spec& spec, filter_context& ctx, std::uint64_t& key) {
  if (spec.selectors.empty()) return true;
  for (const selector& sel : spec.selectors) {
    std::uint64_t k = key;
    if (selector_matches(sel, ctx, k)) {
      key = k;
      return true;
    }
  }
  return false;
}

std::vector<limit_spec> read_limit_rules(const json_object& o, std::string_view key) {
  std::vector<limit_spec> out;
  const auto* rules = array_field(o, key, "", true);
  if (rules->empty()) config_error(key, "needs at least one rule");
  for (std::size_t i = 0; i < rules->size(); ++i) {
    const std::string rp = index_path(key, i);
    const json_object& r = as_object((*rules)[i], rp);
    check_fields(r, rp, {"clientSelectors", "limit"});
    limit_spec spec;
    if (const auto* sels = array_field(r, "clientSelectors", rp))
      for (std::size_t k = 0; k < sels->size(); ++k) {
        const std::string sp = index_path(field_path(rp, "clientSelectors"), k);
        spec.selectors.push_back(read_selector(as_object((*sels)[k], sp), sp));
      }
    const std::string lp = field_path(rp, "limit");
    const json_value* lv = r.if_contains("limit");
    if (!lv) config_error(lp, "required field is missing");
    const json_object& l = as_object(*lv, lp);
    check_fields(l, lp, {"requests", "unit"});
    spec.requests =
        static_cast<std::uint64_t>(*int_field(l, "requests", lp, 1, 1'000'000'000, true));
    const std::string unit = *string_field(l, "unit", lp, true);
    spec.period_s = unit == "Second"   ? 1
                    : unit == "Minute" ? 60
                    : unit == "Hour"   ? 3600
                    : unit == "Day"    ? 86400
                                       : 0;
    if (!spec.period_s) config_error(field_path(lp, "unit"), "must be Second, Minute, Hour or Day");
    for (const selector& sel : spec.selectors) {
      for (const header_selector& h : sel.headers)
        spec.distinct = spec.distinct || h.type == header_selector::match::distinct;
      spec.distinct = spec.distinct || (sel.source && sel.source->distinct);
    }
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace gateway::filters
