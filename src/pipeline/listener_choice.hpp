#pragma once
// Which listener of those sharing one socket takes a request: the one whose
// hostname is most specific among those covering its Host (exact, then the
// longest wildcard, then the catch-all). The server, evaluations and
// explain_waf all choose with these two functions.
#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "router/host_name.hpp"

namespace gateway {

// Exact names outrank wildcards, longer wildcards shorter ones, all the catch-all.
inline int listener_specificity(std::string_view hostname) noexcept {
  if (hostname.empty()) return 0;
  if (hostname.starts_with("*.")) return 1000 + static_cast<int>(hostname.size());
  return 1000000;
}

// Orders `members` (listener indexes) most specific first; ties keep their order.
template <class HostnameOf>
void order_listeners(std::vector<std::size_t>& members, HostnameOf&& hostname_of) {
  std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
    return listener_specificity(hostname_of(a)) > listener_specificity(hostname_of(b));
  });
}

// The member of `ordered` (as order_listeners left it) that takes `host`, or
// nullptr. A socket with one listener gives it every request: its router
// holds only routes for its hostname already.
template <class HostnameOf>
const std::size_t* choose_listener(std::span<const std::size_t> ordered, std::string_view host,
                                   HostnameOf&& hostname_of) noexcept {
  if (ordered.size() == 1) return ordered.data();
  char storage[max_host_length];
  const std::string_view key = request_host_key(host, storage);
  for (const std::size_t& i : ordered)
    if (listener_hostname_covers(hostname_of(i), key)) return &i;
  return nullptr;
}

}  // namespace gateway
