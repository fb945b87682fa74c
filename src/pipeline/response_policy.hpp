#pragma once
// What a route does to the head of a proxied response, on the neutral field
// list: the upstream's end-to-end fields, Via, the rule's response header
// modifier, its CORS fields and a hash cookie. Framing (Content-Length,
// Transfer-Encoding, Connection) is the downstream codec's.
#include <gateway/http.hpp>
#include <gateway/router.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gateway {

struct response_policy_input {
  std::span<const http::header> upstream;  // the upstream's fields, end-to-end only
  int upstream_version_major = 1;          // for Via
  int upstream_version_minor = 1;
  const header_modifier* modifier = nullptr;
  const cors_policy* cors = nullptr;  // set when the request's origin is allowed
  std::string_view cors_origin;
  std::string_view set_cookie;  // a generated hash cookie's Set-Cookie value, or empty
};

// Fills `out` (cleared first) with the fields the client gets, as views of
// the input and of `scratch`. Fields the route speaks for (a modifier's set
// and remove names, the CORS fields when it has a policy) replace the
// upstream's.
void response_fields(const response_policy_input& in, std::vector<http::header>& out,
                     std::string& scratch);

}  // namespace gateway
