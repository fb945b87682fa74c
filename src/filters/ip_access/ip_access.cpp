// "ip-access": allow/deny by client address, in Envoy Gateway's
// SecurityPolicy `authorization` shape: rules tried in order, the first whose
// clientCIDRs contain the client decides, else `defaultAction`. 403 on deny.
#include <fmt/format.h>
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/client_address.hpp"
#include "filters/json_config.hpp"

namespace gateway::filters {
namespace {

struct access_rule {
  std::string name;
  bool allow = false;
  std::vector<cidr> ranges;
};
struct access_config {
  std::vector<access_rule> rules;
  bool default_allow = false;
  unsigned trusted_hops = 0;
  verdict_counters counted;  // allowed, denied
};

class ip_access_filter final : public filter {
 public:
  explicit ip_access_filter(const access_config& c) : c_(c) {}
  filter_status on_request(filter_context& ctx) override {
    std::string_view who = client_address(ctx, c_.trusted_hops);
    bool allow = c_.default_allow;
    if (auto a = ip_address::parse(who)) {
      for (const access_rule& r : c_.rules) {
        bool hit = false;
        for (const cidr& range : r.ranges)
          hit = hit || range.contains(*a);
        if (hit) {
          allow = r.allow;
          if (!r.name.empty()) ctx.set_metadata("ip-access.rule", r.name);
          break;
        }
      }
    } else {
      allow = false;  // an address that does not parse is never trusted
    }
    if (allow) return c_.counted.counted(ctx, filter_status::next);
    ctx.send_local_reply(403, "access denied\n");
    return c_.counted.counted(ctx, filter_status::stop);
  }

 private:
  const access_config& c_;
};

bool read_action(const json_object& o, std::string_view key, std::string_view path, bool dflt) {
  auto a = string_field(o, key, path);
  if (!a) return dflt;
  if (*a == "Allow") return true;
  if (*a == "Deny") return false;
  config_error(field_path(path, key), "must be Allow or Deny");
}

}  // namespace

std::shared_ptr<const filter_factory> make_ip_access(std::string_view json,
                                                     filter_factory_context& context) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"defaultAction", "rules", "clientIPDetection"});
  access_config c;
  c.default_allow = read_action(o, "defaultAction", "", false);
  if (const json_value* d = o.if_contains("clientIPDetection")) {
    const json_object& det = as_object(*d, "clientIPDetection");
    check_fields(det, "clientIPDetection", {"xForwardedFor"});
    if (const json_value* x = det.if_contains("xForwardedFor")) {
      const std::string xp = "clientIPDetection.xForwardedFor";
      const json_object& xo = as_object(*x, xp);
      check_fields(xo, xp, {"numTrustedHops"});
      c.trusted_hops =
          static_cast<unsigned>(int_field(xo, "numTrustedHops", xp, 0, 16).value_or(0));
    }
  }
  if (const auto* rules = array_field(o, "rules", ""))
    for (std::size_t i = 0; i < rules->size(); ++i) {
      const std::string rp = index_path("rules", i);
      const json_object& r = as_object((*rules)[i], rp);
      check_fields(r, rp, {"name", "action", "principal"});
      access_rule rule;
      rule.name = string_field(r, "name", rp).value_or("");
      if (!r.if_contains("action"))
        config_error(field_path(rp, "action"), "required field is missing");
      rule.allow = read_action(r, "action", rp, false);
      const std::string pp = field_path(rp, "principal");
      const json_value* pv = r.if_contains("principal");
      if (!pv) config_error(pp, "required field is missing");
      const json_object& p = as_object(*pv, pp);
      check_fields(p, pp, {"clientCIDRs"});
      auto ranges = strings_field(p, "clientCIDRs", pp);
      if (ranges.empty()) config_error(field_path(pp, "clientCIDRs"), "needs at least one CIDR");
      for (std::size_t k = 0; k < ranges.size(); ++k) {
        auto range = cidr::parse(ranges[k]);
        if (!range)
          config_error(index_path(field_path(pp, "clientCIDRs"), k),
                       fmt::format("'{}' is not an IPv4 or IPv6 CIDR", ranges[k]));
        rule.ranges.push_back(*range);
      }
      c.rules.push_back(std::move(rule));
    }
  c.counted = verdict_counters(context, "denied");
  return make_factory<ip_access_filter>(std::move(c), hook_request);
}

}  // namespace gateway::filters
