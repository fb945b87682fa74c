#pragma once
// The "waf" filter's factory builder (registered with the built-in filters;
// a WafPolicy's spec is its configuration).
#include <gateway/filter.hpp>

#include <memory>
#include <string_view>

namespace gateway::waf {

std::shared_ptr<const filter_factory> make_waf_filter(std::string_view json);

}  // namespace gateway::waf
