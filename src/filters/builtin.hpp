#pragma once
// The built-in filters' factory builders, each in src/filters/<name>/; they
// take their JSON configuration and throw gateway::error naming a bad field.
#include <gateway/filter.hpp>

#include <memory>

namespace gateway::filters {

std::shared_ptr<const filter_factory> make_headers(std::string_view json);
std::shared_ptr<const filter_factory> make_request_size_limit(std::string_view json);
std::shared_ptr<const filter_factory> make_direct_response(std::string_view json);
std::shared_ptr<const filter_factory> make_error_pages(std::string_view json);
std::shared_ptr<const filter_factory> make_cors(std::string_view json);
std::shared_ptr<const filter_factory> make_basic_auth(std::string_view json,
                                                      filter_factory_context& context);
std::shared_ptr<const filter_factory> make_api_key_auth(std::string_view json,
                                                        filter_factory_context& context);
std::shared_ptr<const filter_factory> make_ip_access(std::string_view json,
                                                     filter_factory_context& context);
std::shared_ptr<const filter_factory> make_local_ratelimit(std::string_view json,
                                                           filter_factory_context& context);
std::shared_ptr<const filter_factory> make_jwt(std::string_view json,
                                               filter_factory_context& context);
std::shared_ptr<const filter_factory> make_global_ratelimit(std::string_view json,
                                                            filter_factory_context& context);
std::shared_ptr<const filter_factory> make_compression(std::string_view json);

// The counters of a filter that lets a request on or refuses it:
// gateway_filter_events_total{event="allowed"} and {event=`refused`}.
struct verdict_counters {
  filter_counter allowed, refused;
  verdict_counters() = default;
  verdict_counters(filter_factory_context& context, std::string_view refused_event)
      : allowed(context.counter("allowed")), refused(context.counter(refused_event)) {}
  // Counts the verdict and passes `status` on.
  filter_status counted(filter_context& ctx, filter_status status) const noexcept {
    ctx.count(status == filter_status::next ? allowed : refused);
    return status;
  }
};

// The factory of every built-in: it owns the configuration parsed at load
// (never moved again, so filters can keep a reference; mutable for filters
// with shared state such as rate limit buckets) and makes a Filter(Config&)
// per request in the request's arena.
template <class Filter, class Config>
class config_factory final : public filter_factory {
 public:
  config_factory(std::unique_ptr<Config> c, std::uint8_t hooks) : c_(std::move(c)), hooks_(hooks) {}
  filter* create(filter_arena& arena) const override { return arena.make<Filter>(*c_); }
  std::uint8_t hooks() const noexcept override { return hooks_; }

 private:
  std::unique_ptr<Config> c_;
  std::uint8_t hooks_;
};

template <class Filter, class Config>
std::shared_ptr<const filter_factory> make_factory(std::unique_ptr<Config> c, std::uint8_t hooks) {
  return std::make_shared<config_factory<Filter, Config>>(std::move(c), hooks);
}
template <class Filter, class Config>
std::shared_ptr<const filter_factory> make_factory(Config c, std::uint8_t hooks) {
  return make_factory<Filter>(std::make_unique<Config>(std::move(c)), hooks);
}

}  // namespace gateway::filters
