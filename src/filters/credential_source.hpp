#pragma once
// Where a credential is taken from in a request (a header, a query parameter
// or a cookie), and how it is removed before the request goes upstream.
#include <gateway/filter.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filters/json_config.hpp"

namespace gateway::filters {

struct credential_source {
  enum class kind { header, param, cookie } type = kind::header;
  std::string name;
  std::string prefix;  // for headers: "Bearer " and the like, stripped from the value
};

// The first source that holds a value, and the value (borrowed from the request).
struct found_credential {
  const credential_source* source = nullptr;
  std::string_view value;
};
found_credential find_credential(filter_context& ctx, const std::vector<credential_source>& from);
// Removes the credential found from the request (the header, the cookie, or
// the query parameter). Only during on_request.
void strip_credential(filter_context& ctx, const found_credential& found);
// Reads Envoy Gateway's extractFrom shape: {headers: [..], params: [..], cookies: [..]};
// headers may be names or {name, valuePrefix}.
void read_sources(const json_object& o, std::string_view path, std::vector<credential_source>& out);

}  // namespace gateway::filters
