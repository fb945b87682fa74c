// The registry of named filter factory builders, and the built-in set.
#include <gateway/error.hpp>
#include <gateway/filter.hpp>

#include <fmt/format.h>

#include "filters/background.hpp"
#include "filters/builtin.hpp"
#include "filters/filter_counters.hpp"
#include "waf/waf_filter.hpp"

namespace gateway {
namespace {

// What a builder gets: who it builds for, counters, the background.
class build_context final : public filter_factory_context {
 public:
  build_context(std::string_view owner, std::string_view type) : owner_(owner), type_(type) {}
  std::string_view owner() const noexcept override { return owner_; }
  std::string_view type() const noexcept override { return type_; }
  filter_counter counter(std::string_view event) override {
    if (event.empty()) throw error(errc::invalid_argument, "a filter counter needs an event name");
    return filter_counter(filters::counter_id(owner_, type_, event));
  }
  filter_services& services() noexcept override { return filters::background::get(); }

 private:
  std::string_view owner_, type_;
};

}  // namespace

const filter_registry& filter_registry::builtin() {
  static const filter_registry registry = [] {
    filter_registry r;
    r.add("headers", filters::make_headers);
    r.add("request-size-limit", filters::make_request_size_limit);
    r.add("direct-response", filters::make_direct_response);
    r.add("error-pages", filters::make_error_pages);
    r.add("cors", filters::make_cors);
    r.add("basic-auth", filters::make_basic_auth);
    r.add("api-key-auth", filters::make_api_key_auth);
    r.add("ip-access", filters::make_ip_access);
    r.add("local-ratelimit", filters::make_local_ratelimit);
    r.add("jwt", filters::make_jwt);
    r.add("global-ratelimit", filters::make_global_ratelimit);
    r.add("compression", filters::make_compression);
    r.add("waf", waf::make_waf_filter);
    return r;
  }();
  return registry;
}

void filter_registry::add(std::string name, filter_factory_builder build) {
  if (!build) throw error(errc::invalid_config, "a filter needs a name and a builder");
  add(std::move(name), [build = std::move(build)](std::string_view json, filter_factory_context&) {
    return build(json);
  });
}

void filter_registry::add(std::string name, filter_factory_context_builder build) {
  if (name.empty() || !build)
    throw error(errc::invalid_config, "a filter needs a name and a builder");
  if (builders_.count(name))
    throw error(errc::invalid_config, fmt::format("filter '{}' is already registered", name));
  builders_.emplace(std::move(name), std::move(build));
}

const filter_factory_context_builder* filter_registry::find(std::string_view name) const noexcept {
  auto it = builders_.find(name);
  return it == builders_.end() ? nullptr : &it->second;
}

filter_ref filter_registry::make(std::string_view name, std::string_view json_config,
                                 std::string_view owner) const {
  const filter_factory_context_builder* build = find(name);
  if (!build) {
    std::string known;
    for (const auto& [n, b] : builders_)
      known.append(known.empty() ? "" : ", ").append(n);
    throw error(errc::invalid_config,
                fmt::format("unknown filter '{}' (registered: {})", name, known));
  }
  build_context context(owner, name);
  filter_ref ref{std::string(name), (*build)(json_config, context)};
  if (!ref.factory)
    throw error(errc::invalid_config, fmt::format("filter '{}' made no factory", name));
  return ref;
}

std::vector<std::string> filter_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, b] : builders_)
    out.push_back(n);
  return out;
}

}  // namespace gateway
