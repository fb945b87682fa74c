#pragma once
// The "waf" filter's factory builder (registered with the built-in filters;
// a WafPolicy's spec is its configuration).
#include <gateway/filter.hpp>
#include <gateway/waf.hpp>

#include <memory>
#include <optional>
#include <string_view>

namespace gateway::waf {

std::shared_ptr<const filter_factory> make_waf_filter(std::string_view json);

// How a WAF filter is set up (for explaining its decisions without traffic).
struct waf_use {
  const waf_engine* engine = nullptr;  // null when the mode is Off
  waf_mode mode = waf_mode::off;
  const waf_exclusions* exclusions = nullptr;
  bool request_body = true;
  std::uint64_t request_body_limit = 0;
  body_overflow request_overflow = body_overflow::reject;
};
// The setup of `factory` if it is a WAF filter's.
std::optional<waf_use> waf_use_of(const filter_factory& factory);

}  // namespace gateway::waf
