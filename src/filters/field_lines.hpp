#pragma once
// Turns "name: value\r\n" text (as route_filters.hpp writes CORS fields) into
// header fields, for filters that reuse those writers.
#include <gateway/http.hpp>

#include <string_view>
#include <vector>

namespace gateway::filters {

// Appends the fields of `lines` to `out`; the views point into `lines`.
void split_field_lines(std::string_view lines, std::vector<http::header>& out);

}  // namespace gateway::filters
