// Where a request named by URL would arrive: the URL's parts, and the socket
// group a connection for it would reach (shared by in-process evaluation and
// the router component).
#include "server/target_url.hpp"

#include <gateway/error.hpp>
#include <gateway/http.hpp>

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include <charconv>
#include <string>
#include <vector>

#include "http1/serializer.hpp"

namespace gateway {

using namespace std::string_view_literals;

parsed_url parse_url(std::string_view url, std::string_view who) {
  auto fail = [&](std::string_view what) {
    return error(errc::invalid_config, fmt::format("{}: {}", who, what));
  };
  parsed_url u;
  // The target is an HTTP request target, kept as written: "//a" is a path
  // there (not an authority, as in a URI reference), and a malformed one is
  // for the request's reader to refuse, as it refuses one that came over a
  // socket. Only the scheme and authority are read here.
  std::string_view target = url;
  if (!url.starts_with('/') && url != "*") {
    const std::size_t slashes = url.find("://");
    const std::size_t end =
        slashes == std::string_view::npos ? url.size() : url.find_first_of("/?#", slashes + 3);
    const std::string_view origin = url.substr(0, end);
    target = end == std::string_view::npos ? std::string_view() : url.substr(end);
    const auto ref = boost::urls::parse_absolute_uri(origin);
    if (!ref || !ref->has_authority() ||
        (ref->scheme_id() != boost::urls::scheme::http &&
         ref->scheme_id() != boost::urls::scheme::https))
      throw fail("the URL must be http://..., https://... or start with '/'");
    // Boost 1.81 reads "http://x:8o" as port 8 and path "o": after an
    // authority RFC 3986 allows only an absolute path or none.
    if (!ref->encoded_path().empty())
      throw fail(fmt::format("'{}' is not a URL (its port or host runs into the path)", url));
    if (ref->has_userinfo()) throw fail("the URL must not carry a user name or password");
    const auto host = ref->encoded_host_address();
    if (host.empty()) throw fail("the URL has no host");
    if (host.find('%') != std::string_view::npos)
      throw fail("the URL's host must not be percent-encoded");
    u.absolute = true;
    u.https = ref->scheme_id() == boost::urls::scheme::https;
    u.host.assign(host.data(), host.size());
    u.authority.assign(ref->encoded_host_and_port());
    u.port = u.https ? 443 : 80;
    if (ref->has_port()) {
      // Boost 1.81's port_number() wraps a port past 65535: read the digits.
      const std::string_view digits = ref->port();
      unsigned port = 0;
      const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
      if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || port == 0 ||
          port > 65535)
        throw fail("the URL's port is not a number from 1 to 65535");
      u.port = static_cast<std::uint16_t>(port);
      u.port_given = true;
    }
  }
  if (target.empty() || target.front() == '?' || target.front() == '#') u.target.push_back('/');
  u.target.append(target);
  return u;
}

// The socket group a connection for `u` would arrive on.
const socket_group* find_group(const snapshot& snap, const parsed_url& u, std::string_view listener,
                               std::string_view who) {
  if (!listener.empty()) {
    for (const auto& g : snap.groups)
      for (std::size_t i : g.members)
        if (snap.listeners[i].config.name == listener) return &g;
    throw error(errc::not_found, fmt::format("{}: no listener named '{}'", who, listener));
  }
  if (snap.groups.empty())
    throw error(errc::not_found, fmt::format("{}: the config has no listener", who));
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
  throw error(errc::not_found, fmt::format("{}: no {} listener on port {}; the listeners are: {}",
                                           who, (u.https ? "HTTPS" : "HTTP"), u.port, there));
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
