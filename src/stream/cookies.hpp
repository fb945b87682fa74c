#pragma once
// Reading the Cookie fields of a request (RFC 6265 "name=value; name=value").
#include <gateway/http.hpp>

#include <optional>
#include <span>
#include <string_view>

namespace gateway::http {

// Calls `each(name, value, item)` for every cookie in a Cookie field value;
// `item` is the whole "name=value" entry as written.
template <class F>
void for_each_cookie(std::string_view list, F&& each) {
  while (!list.empty()) {
    std::size_t semi = list.find(';');
    std::string_view item = list.substr(0, semi);
    list.remove_prefix(semi == std::string_view::npos ? list.size() : semi + 1);
    std::string_view trimmed = item;
    while (!trimmed.empty() && trimmed.front() == ' ')
      trimmed.remove_prefix(1);
    std::size_t eq = trimmed.find('=');
    if (eq == std::string_view::npos) continue;
    each(trimmed.substr(0, eq), trimmed.substr(eq + 1), item);
  }
}

// The value of the first cookie named `name` in the request's Cookie fields.
inline std::optional<std::string_view> cookie_value(std::span<const header> headers,
                                                    std::string_view name) {
  std::optional<std::string_view> found;
  for (const header& h : headers) {
    if (!iequals(h.name, "cookie")) continue;
    for_each_cookie(h.value, [&](std::string_view n, std::string_view v, std::string_view) {
      if (!found && n == name) found = v;
    });
    if (found) break;
  }
  return found;
}

}  // namespace gateway::http
