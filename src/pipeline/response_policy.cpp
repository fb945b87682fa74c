#include "pipeline/response_policy.hpp"

#include "pipeline/route_filters.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {
// The CORS fields the route's policy answers for, whatever the upstream said.
bool cors_owned(std::string_view name) {
  return http::iequals(name, "access-control-allow-origin") ||
         http::iequals(name, "access-control-allow-credentials") ||
         http::iequals(name, "access-control-expose-headers");
}
}  // namespace

void response_fields(const response_policy_input& in, std::vector<http::header>& out,
                     std::string& scratch) {
  out.clear();
  for (const http::header& h : in.upstream) {
    if (in.modifier && replaces_field(*in.modifier, h.name)) continue;
    if (in.cors && cors_owned(h.name)) continue;
    out.push_back(h);
  }
  out.push_back({"via"sv, in.upstream_version_major == 2   ? "2 gateway"sv
                          : in.upstream_version_minor == 0 ? "1.0 gateway"sv
                                                           : "1.1 gateway"sv});
  if (in.modifier) modifier_fields(*in.modifier, out);
  if (in.cors) cors_response_fields(*in.cors, in.cors_origin, out, scratch);
  if (!in.set_cookie.empty()) out.push_back({"set-cookie"sv, in.set_cookie});
}

}  // namespace gateway
