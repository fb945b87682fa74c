// Where a request named by URL would arrive: the URL's parts, and the socket
// group a connection for it would reach (shared by in-process evaluation and
// the router component).
#include "server/target_url.hpp"

#include <gateway/error.hpp>
#include <gateway/http.hpp>

#include <charconv>
#include <vector>

#include "http1/serializer.hpp"
#include "router/host_name.hpp"

namespace gateway {

using namespace std::string_view_literals;

parsed_url parse_url(std::string_view url, std::string_view who) {
  parsed_url u;
  std::string_view rest = url;
  if (rest.starts_with("http://") || rest.starts_with("https://")) {
    u.absolute = true;
    u.https = rest[4] == 's';
    rest.remove_prefix(u.https ? 8 : 7);
    const std::size_t end = rest.find_first_of("/?");
    u.authority.assign(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    u.port = u.https ? 443 : 80;
    u.host.assign(host_without_port(u.authority));
    if (u.host.size() < u.authority.size()) {
      const std::string_view tail = std::string_view(u.authority).substr(u.host.size());
      unsigned port = 0;
      auto [p, ec] = std::from_chars(tail.data() + 1, tail.data() + tail.size(), port);
      if (tail.front() != ':' || ec != std::errc() || p != tail.data() + tail.size() || port == 0 ||
          port > 65535)
        throw error(errc::invalid_config,
                    std::string(who) + ": the URL's port is not a number from 1 to 65535");
      u.port = static_cast<std::uint16_t>(port);
      u.port_given = true;
    }
    if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']')
      u.host = u.host.substr(1, u.host.size() - 2);
    if (u.host.empty())
      throw error(errc::invalid_config, std::string(who) + ": the URL has no host");
  }
  u.target.assign(rest.empty() ? "/"sv : rest);
  if (!u.absolute && u.target.front() != '/' && u.target != "*")
    throw error(errc::invalid_config,
                std::string(who) + ": the URL must be http://..., https://... or start with '/'");
  return u;
}

// The socket group a connection for `u` would arrive on.
const socket_group* find_group(const snapshot& snap, const parsed_url& u, std::string_view listener,
                               std::string_view who) {
  if (!listener.empty()) {
    for (const auto& g : snap.groups)
      for (std::size_t i : g.members)
        if (snap.listeners[i].config.name == listener) return &g;
    throw error(errc::not_found,
                std::string(who) + ": no listener named '" + std::string(listener) + "'");
  }
  if (snap.groups.empty())
    throw error(errc::not_found, std::string(who) + ": the config has no listener");
  if (!u.absolute) return &snap.groups.front();
  for (const auto& g : snap.groups) {
    if ((g.tls != nullptr) != u.https) continue;
    for (std::size_t i : g.members) {
      const listener_config& c = snap.listeners[i].config;
      if (c.port == u.port || c.bind_port == u.port) return &g;
    }
  }
  // Say what there is, so the caller can fix the URL or name a listener.
  std::string there;
  for (const auto& g : snap.groups)
    for (std::size_t i : g.members) {
      const listener_config& c = snap.listeners[i].config;
      there.append(there.empty() ? "" : ", ")
          .append(c.name)
          .append(c.tls ? " (HTTPS, port " : " (HTTP, port ")
          .append(std::to_string(c.port));
      if (c.bind_port == 0)
        there.append(", bound on an ephemeral port of ").append(c.bind_address);
      else if (c.bind_port != c.port)
        there.append(", bound on ")
            .append(c.bind_address)
            .append(":")
            .append(std::to_string(c.bind_port));
      there.append(")");
    }
  throw error(errc::not_found, std::string(who) + ": no " + (u.https ? "HTTPS" : "HTTP") +
                                   " listener on port " + std::to_string(u.port) +
                                   "; the listeners are: " + there);
}

std::size_t write_request_text(std::string& out, std::string_view method, const parsed_url& url,
                               std::span<const std::pair<std::string, std::string>> fields,
                               std::string_view body) {
  // The caller's fields go as given (framing ones too: a test may send its
  // own); the serializer adds Host and a Content-Length only where missing.
  std::vector<http::header> head;
  head.reserve(fields.size() + 1);
  bool has_host = false, has_framing = false;
  for (const auto& [name, value] : fields) {
    has_host = has_host || http::iequals(name, "host");
    has_framing = has_framing || http::iequals(name, "content-length") ||
                  http::iequals(name, "transfer-encoding");
    head.push_back({name, value});
  }
  if (!has_host && url.absolute) head.insert(head.begin(), {"host"sv, url.authority});
  http1::request_framing framing;
  framing.has_length = !has_framing && !body.empty();
  framing.length = body.size();
  http1::write_request_head(out, method.empty() ? "GET"sv : method, url.target, head, framing);
  const std::size_t head_size = out.size();
  out.append(body);
  return head_size;
}

}  // namespace gateway
