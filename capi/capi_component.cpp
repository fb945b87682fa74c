// The host-facing components' C plumbing (capi_component.hpp).
#include "capi_component.hpp"

namespace gateway::capi {

std::string said(const char* call, std::string_view what) {
  return std::string(call).append(": ").append(what);
}

gw_status read_request(const error_slot* slot, const gw_request* request, const char* call,
                       owned_request& out) {
  gw_request r;
  std::string why;
  if (!read_sized(*request, r, "gw_request", why))
    return call_failed(slot, GW_INVALID_ARGUMENT, said(call, why));
  if (bad_text(r.method, r.method_length) || bad_text(r.url, r.url_length) ||
      bad_text(r.body, r.body_length) || bad_text(r.client_ip, r.client_ip_length) ||
      bad_text(r.listener, r.listener_length) || (!r.headers && r.header_count))
    return call_failed(slot, GW_INVALID_ARGUMENT, said(call, "a NULL pointer with a length"));
  out.method.assign(text(r.method, r.method_length));
  out.url.assign(text(r.url, r.url_length));
  out.body.assign(text(r.body, r.body_length));
  out.client_ip.assign(text(r.client_ip, r.client_ip_length));
  out.listener.assign(text(r.listener, r.listener_length));
  out.headers.reserve(r.header_count);
  for (std::size_t i = 0; i < r.header_count; ++i) {
    const gw_header& h = r.headers[i];
    if (bad_text(h.name, h.name_length) || bad_text(h.value, h.value_length) || !h.name_length)
      return call_failed(
          slot, GW_INVALID_ARGUMENT,
          said(call, "header " + std::to_string(i) + " has no name or a NULL pointer"));
    out.headers.emplace_back(text(h.name, h.name_length), text(h.value, h.value_length));
  }
  return GW_OK;
}

}  // namespace gateway::capi
