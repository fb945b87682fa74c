#pragma once
// A request named by URL, as callers outside a connection give it
// (evaluation, the router component): the URL's parts, and the socket group
// a connection for it would arrive on.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "server/snapshot.hpp"

namespace gateway {

// A URL split for routing: scheme, authority, port (the scheme's when none
// is written) and the origin-form target.
struct parsed_url {
  bool https = false;
  bool absolute = false;
  std::string authority;  // host[:port]
  std::string host;       // the authority's host: a name or an address (without [])
  std::uint16_t port = 0;
  bool port_given = false;  // the URL wrote its port
  std::string target;       // origin form
};

// Reads "http://host[:port]/path?query", "https://..." or "/path?query";
// throws gateway::error (invalid_config) saying what is wrong, `who` first.
parsed_url parse_url(std::string_view url, std::string_view who);

// Writes into `out` the request as a client would send it over HTTP/1.1:
// `method` (GET when empty) and the URL's target, `fields`, a Host field
// from an absolute URL's authority unless `fields` has one, and a
// Content-Length for a non-empty body unless `fields` frames it. Returns the
// head's size; `body` follows it.
std::size_t write_request_text(std::string& out, std::string_view method, const parsed_url& url,
                               std::span<const std::pair<std::string, std::string>> fields,
                               std::string_view body);

// The socket group a connection for `u` would arrive on: the one holding
// the listener named `listener` when given, else the first whose TLS and
// port fit an absolute URL (the first group for a relative one). Throws
// gateway::error (not_found) listing the listeners there are.
const socket_group* find_group(const snapshot& snap, const parsed_url& u, std::string_view listener,
                               std::string_view who);

}  // namespace gateway
