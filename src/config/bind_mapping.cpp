// Port mapping: a listener's Gateway API port stays what routing and
// redirects see, while the socket binds wherever the host says (an
// unprivileged gateway serving port 80 on 8080, say).
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <fmt/format.h>
#include <charconv>
#include <set>

namespace gateway {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || v > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

[[noreturn]] void bad(std::string_view spec, const std::string& why) {
  throw error(errc::invalid_config, fmt::format("bind mapping '{}': {}", spec, why));
}

// "ns/gateway" of a listener named "ns/gateway/listener" (or "" for other names).
std::string_view gateway_of(std::string_view listener) {
  auto slash = listener.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : listener.substr(0, slash);
}

}  // namespace

bind_mapping parse_bind_mapping(std::string_view spec) {
  bind_mapping m;
  auto eq = spec.find('=');
  if (eq == std::string_view::npos) bad(spec, "expected [NAMESPACE/GATEWAY:]PORT=ADDRESS:PORT");
  std::string_view left = spec.substr(0, eq), right = spec.substr(eq + 1);
  if (auto colon = left.rfind(':'); colon != std::string_view::npos) {
    m.gateway = std::string(left.substr(0, colon));
    left = left.substr(colon + 1);
    if (m.gateway.find('/') == std::string::npos || m.gateway.front() == '/' ||
        m.gateway.back() == '/')
      bad(spec, "the gateway is NAMESPACE/NAME");
  }
  auto port = parse_port(left);
  if (!port || *port == 0) bad(spec, "'" + std::string(left) + "' is not a listener port");
  m.port = *port;
  auto colon = right.rfind(':');
  if (colon == std::string_view::npos) bad(spec, "the local side is ADDRESS:PORT");
  std::string_view address = right.substr(0, colon);
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']')
    address = address.substr(1, address.size() - 2);  // [::1]:8080
  if (address.empty()) bad(spec, "missing local address");
  auto bind_port = parse_port(right.substr(colon + 1));
  if (!bind_port) bad(spec, "'" + std::string(right.substr(colon + 1)) + "' is not a port");
  m.bind_address = std::string(address);
  m.bind_port = *bind_port;
  return m;
}

void apply_bind_mappings(gateway_config& target, const std::vector<bind_mapping>& mappings) {
  gateway_config config = target;  // all or nothing
  for (const auto& m : mappings) {
    std::string what = (m.gateway.empty() ? "" : m.gateway + ":") + std::to_string(m.port) + "=" +
                       m.bind_address + ":" + std::to_string(m.bind_port);
    std::set<std::string_view> gateways;
    for (const auto& l : config.listeners)
      if (l.port == m.port && (m.gateway.empty() || gateway_of(l.name) == m.gateway))
        gateways.insert(gateway_of(l.name));
    if (gateways.empty())
      bad(what, m.gateway.empty() ? "no listener has port " + std::to_string(m.port)
                                  : "Gateway " + m.gateway + " has no listener on port " +
                                        std::to_string(m.port));
    if (gateways.size() > 1) {
      std::string names;
      for (auto g : gateways)
        names += (names.empty() ? "" : ", ") + std::string(g);
      bad(what, "port " + std::to_string(m.port) + " is used by several Gateways (" + names +
                    "): name one as NAMESPACE/GATEWAY:" + std::to_string(m.port) + "=...");
    }
    for (auto& l : config.listeners)
      if (l.port == m.port && (m.gateway.empty() || gateway_of(l.name) == m.gateway)) {
        l.bind_address = m.bind_address;
        l.bind_port = m.bind_port;
      }
  }
  target = std::move(config);
}

}  // namespace gateway
