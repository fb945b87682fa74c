// "cors": answers preflights for allowed origins and adds the CORS fields to
// their responses (the upstream's and the gateway's own); other origins get
// no CORS fields at all. Origins are exact, wildcard ("https://*.example.com",
// "*") or, as an extension, RE2 regexes compiled at load.
#include <fmt/format.h>
#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/json_config.hpp"
#include "pipeline/route_filters.hpp"

namespace gateway::filters {

namespace {

struct cors_config {
  cors_policy policy;
  std::vector<std::unique_ptr<RE2>> origin_regexes;
  bool allows(std::string_view origin) const {
    if (cors_allows(policy, origin)) return true;
    for (const auto& re : origin_regexes)
      if (RE2::FullMatch(origin, *re)) return true;
    return false;
  }
};

class cors_filter final : public filter {
 public:
  explicit cors_filter(const cors_config& c) : c_(c) {}

  filter_status on_request(filter_context& ctx) override {
    auto origin = ctx.request_headers().get("origin");
    if (!origin || !c_.allows(*origin)) return filter_status::next;
    // The head's bytes go before the response: keep the origin.
    auto* copy = static_cast<char*>(ctx.arena().allocate(origin->size(), 1, nullptr));
    std::memcpy(copy, origin->data(), origin->size());
    origin_ = {copy, origin->size()};
    auto method = ctx.request_headers().get("access-control-request-method");
    if (ctx.method() != "OPTIONS" || !method) return filter_status::next;
    auto asked = ctx.request_headers().get("access-control-request-headers");
    owned_fields made;
    cors_preflight_fields(c_.policy, origin_, *method, asked.value_or(""), made);
    std::vector<http::header> fields;
    made.append_to(fields);
    ctx.send_local_reply(204, {}, fields);
    preflight_ = true;
    return filter_status::stop;
  }

  filter_status on_response(filter_context& ctx) override {
    if (origin_.empty() || preflight_) return filter_status::next;
    header_map& h = ctx.response_headers();
    // The policy speaks for the origin, not the upstream.
    h.remove("access-control-allow-origin");
    h.remove("access-control-allow-credentials");
    h.remove("access-control-expose-headers");
    std::vector<http::header> fields;
    std::string expose;
    cors_response_fields(c_.policy, origin_, fields, expose);
    for (const http::header& f : fields)
      h.add(f.name, f.value);
    return filter_status::next;
  }

 private:
  const cors_config& c_;
  std::string_view origin_;
  bool preflight_ = false;
};

}  // namespace

std::shared_ptr<const filter_factory> make_cors(std::string_view json) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "",
               {"allowOrigins", "allowOriginRegexes", "allowMethods", "allowHeaders",
                "exposeHeaders", "maxAge", "allowCredentials"});
  auto c = std::make_unique<cors_config>();
  c->policy.allow_origins = strings_field(o, "allowOrigins", "");
  c->policy.allow_methods = strings_field(o, "allowMethods", "");
  c->policy.allow_headers = strings_field(o, "allowHeaders", "");
  c->policy.expose_headers = strings_field(o, "exposeHeaders", "");
  c->policy.allow_credentials = bool_field(o, "allowCredentials", "").value_or(false);
  if (auto age = duration_field(o, "maxAge", ""))
    c->policy.max_age = std::chrono::duration_cast<std::chrono::seconds>(*age);
  if (auto problems = cors_problems(c->policy); !problems.empty())
    config_error("", problems.front());
  auto regexes = strings_field(o, "allowOriginRegexes", "");
  for (std::size_t i = 0; i < regexes.size(); ++i) {
    auto re = std::make_unique<RE2>(regexes[i], RE2::Quiet);
    if (!re->ok())
      config_error(index_path("allowOriginRegexes", i),
                   fmt::format("invalid regex: {}", re->error()));
    c->origin_regexes.push_back(std::move(re));
  }
  if (c->policy.allow_origins.empty() && c->origin_regexes.empty())
    config_error("allowOrigins", "at least one origin (or allowOriginRegexes) is required");
  return make_factory<cors_filter>(std::move(c), hook_request | hook_response);
}

}  // namespace gateway::filters
