#include "router/host_name.hpp"

#include <algorithm>

namespace gateway {

std::string_view request_host_key(std::string_view host,
                                  char (&storage)[max_host_length]) noexcept {
  host = host_without_port(host);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > max_host_length) return {};
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    storage[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
  }
  return {storage, host.size()};
}

std::string lowercase_host(std::string_view host) {
  std::string out(host);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  return out;
}

bool valid_route_hostname(std::string_view host) noexcept {
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '.') {
      if (label == 0 || host[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c == '-' && label > 0);
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && host.back() != '-';
}

bool intersect_hostnames(std::string_view listener, const std::vector<std::string>& route_hosts,
                         std::vector<std::string>& out) {
  out.clear();
  if (listener.empty()) {
    out = route_hosts;
    return true;
  }
  if (route_hosts.empty()) {
    out.emplace_back(listener);
    return true;
  }
  // "*.example.com" covers "a.example.com", "a.b.example.com" and "*.a.example.com".
  auto covers = [](std::string_view wildcard, std::string_view name) {
    std::string_view suffix = wildcard.substr(1);  // ".example.com"
    if (name.starts_with("*.")) name.remove_prefix(1);
    return name.size() > suffix.size() && name.ends_with(suffix);
  };
  for (const auto& h : route_hosts) {
    // The more specific of the two names is what the route serves on this listener.
    if (h == listener || (listener.starts_with("*.") && covers(listener, h)))
      out.push_back(h);
    else if (h.starts_with("*.") && covers(h, listener))
      out.emplace_back(listener);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return !out.empty();
}

}  // namespace gateway
