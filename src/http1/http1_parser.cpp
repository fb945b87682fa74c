#include "http1/http1_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "core/swar.hpp"
#include "grpc/grpc_wire.hpp"

namespace gateway::http1 {
namespace {

constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c)
    t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c)
    t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c)
    t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~"))
    t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto tchar = make_tchar_table();

inline bool is_tchar(char c) noexcept {
  return tchar[static_cast<unsigned char>(c)];
}
// field-value characters: HTAB, SP, VCHAR, obs-text
inline bool is_value_char(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}
// Whether every byte of `v` may be in a field value. Whole words first: a
// word with a control byte (or a tab, which is allowed) is looked at byte by
// byte from there.
bool valid_value(std::string_view v) noexcept {
  const char* p = v.data();
  const std::size_t n = v.size();
  std::size_t i = 0;
  if (n >= 8) {
    while (i + 8 <= n && !swar::has_control(swar::load8(p + i)))
      i += 8;
    if (i + 8 > n) {  // every whole word is clean: the last eight bytes decide
      if (!swar::has_control(swar::load8(p + n - 8))) return true;
      i = n - 8;
    }
  }
  for (; i < n; ++i)
    if (!is_value_char(p[i])) return false;
  return true;
}
inline bool is_target_char(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7f;
}

std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

// Calls f(token) for each comma-separated, OWS-trimmed, non-empty element.
template <typename F>
bool for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim_ows(list.substr(0, comma));
    if (!item.empty() && !f(item)) return false;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return true;
}

bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

// RFC 9112 §3.2 / RFC 3986 §3.2: host [":" port], where host is a DNS-style
// name or a bracketed IPv6 literal. Stricter than reg-name on purpose: no
// empty host, no path, space, comma list, userinfo or percent-encoding, so
// that the authority routed on is the one an upstream reads.
bool valid_authority(std::string_view a) noexcept {
  std::size_t i = 0;
  if (!a.empty() && a.front() == '[') {
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (i = 1; i < close; ++i) {
      const char c = a[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
            c == ':' || c == '.'))
        return false;
    }
    i = close + 1;
  } else {
    while (i < a.size() && a[i] != ':') {
      const char c = a[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '-' || c == '.' || c == '_' || c == '~'))
        return false;
      ++i;
    }
    if (i == 0) return false;
  }
  if (i == a.size()) return true;
  if (a[i] != ':') return false;
  std::string_view port = a.substr(i + 1);
  if (port.size() > 5) return false;
  std::uint64_t n = 0;
  return port.empty() || (parse_decimal(port, n) && n <= 65535);
}

// Splits header lines of `block` (which ends with "\r\n\r\n"), starting at
// `pos`, into out.headers. Returns 0 or an error status.
int parse_fields(std::string_view block, std::size_t pos, message_head& out,
                 std::size_t max_headers, int bad_status, int too_many_status) noexcept {
  const std::size_t end = block.size() - 2;  // position of the final CRLF
  while (pos < end) {
    const char* line = block.data() + pos;
    const void* lf = std::memchr(line, '\n', end + 2 - pos);
    if (!lf) return bad_status;
    std::size_t len = static_cast<const char*>(lf) - line;
    if (len == 0 || line[len - 1] != '\r') return bad_status;  // bare LF
    std::string_view l(line, len - 1);
    pos += len + 1;
    if (l.empty()) return bad_status;
    if (l.front() == ' ' || l.front() == '\t') return bad_status;  // obs-fold
    std::size_t colon = 0;
    while (colon < l.size() && is_tchar(l[colon]))
      ++colon;
    if (colon == 0 || colon == l.size() || l[colon] != ':') return bad_status;  // incl. "name :"
    const std::string_view rest = l.substr(colon + 1);
    if (!valid_value(rest)) return bad_status;  // what trimming drops is valid
    const std::string_view value = trim_ows(rest);
    if (out.headers.size() >= max_headers) return too_many_status;
    out.headers.push_back({l.substr(0, colon), value});
  }
  return 0;
}

// Framing fields common to both directions. Returns 0 or `bad_status`.
int analyze_framing(message_head& m, int bad_status) noexcept {
  bool te_final_chunked = false;
  bool te_other = false;
  for (const auto& h : m.headers) {
    const auto& n = h.name;
    if (n.size() == 14 && http::iequals(n, "content-length")) {
      bool ok = for_each_token(h.value, [&](std::string_view item) {
        std::uint64_t v = 0;
        if (!parse_decimal(item, v)) return false;
        if (m.has_content_length && v != m.content_length) return false;
        m.has_content_length = true;
        m.content_length = v;
        return true;
      });
      // An empty or all-comma value carries no length at all.
      if (!ok || !m.has_content_length) return bad_status;
    } else if (n.size() == 17 && http::iequals(n, "transfer-encoding")) {
      m.has_transfer_encoding = true;
      for_each_token(h.value, [&](std::string_view item) {
        if (http::iequals(item, "chunked")) {
          if (te_final_chunked) te_other = true;  // chunked twice is an error
          te_final_chunked = true;
        } else {
          if (te_final_chunked) te_final_chunked = false;  // chunked not last
          te_other = true;
        }
        return true;
      });
    } else if (n.size() == 10 && http::iequals(n, "connection")) {
      for_each_token(h.value, [&](std::string_view item) {
        if (http::iequals(item, "close"))
          m.connection_close = true;
        else if (http::iequals(item, "keep-alive"))
          m.connection_keep_alive = true;
        else if (!http::iequals(item, "host") && !http::iequals(item, "content-length"))
          m.connection_tokens.push_back(item);  // never Host or framing: those stay ours
        return true;
      });
    }
  }
  if (m.has_transfer_encoding) {
    if (!te_final_chunked || te_other) return bad_status;
    m.chunked = true;
  }
  return 0;
}

}  // namespace

void message_head::clear() noexcept {
  headers.clear();
  connection_tokens.clear();
  version_major = 1;
  version_minor = 1;
  head_size = 0;
  chunked = has_content_length = connection_close = connection_keep_alive = false;
  has_transfer_encoding = false;
  content_length = 0;
}

void request_head::clear() noexcept {
  message_head::clear();
  method = target = host = path = query = {};
  expect_continue = absolute_form = grpc = false;
  upgrade = {};
}

void response_head::clear() noexcept {
  message_head::clear();
  status = 0;
  reason = {};
}

std::size_t head_scanner::find_end(std::string_view buffer) noexcept {
  const std::size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
  // A head has one '\r' per line, so hopping from '\r' to '\r' with memchr
  // beats a general substring search on these short inputs.
  const char* p = buffer.data() + from;
  const char* end = buffer.data() + buffer.size();
  while (end - p >= 4) {
    p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p - 3)));
    if (!p) break;
    if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
      return static_cast<std::size_t>(p - buffer.data()) + 4;
    ++p;
  }
  // Incomplete: look for a bare LF in what is new (complete heads get the same
  // verdict from the parser, so the common path pays nothing for this).
  for (std::size_t i = buffer.find('\n', scanned_); i != std::string_view::npos;
       i = buffer.find('\n', i + 1)) {
    if (i == 0 || buffer[i - 1] != '\r') {
      bare_lf_ = true;
      break;
    }
  }
  scanned_ = buffer.size();
  return 0;
}

int incomplete_request_status(std::string_view buffer, const head_limits& limits) noexcept {
  auto lf = buffer.find('\n');
  if (lf == std::string_view::npos ? buffer.size() > limits.max_line : lf > limits.max_line)
    return 414;
  if (buffer.size() > limits.max_head) return 431;
  return 0;
}

int parse_request_head(std::string_view head, request_head& out,
                       const head_limits& limits) noexcept {
  out.clear();
  out.head_size = head.size();
  if (head.size() > limits.max_head) return 431;
  const std::size_t line_end = head.find("\r\n");
  if (line_end > limits.max_line) return 414;
  std::string_view line = head.substr(0, line_end);

  std::size_t i = 0;
  while (i < line.size() && is_tchar(line[i]))
    ++i;
  if (i == 0 || i >= line.size() || line[i] != ' ') return 400;
  out.method = line.substr(0, i);
  std::size_t t = ++i;
  while (i < line.size() && is_target_char(line[i]))
    ++i;
  if (i == t || i >= line.size() || line[i] != ' ') return 400;
  out.target = line.substr(t, i - t);
  std::string_view version = line.substr(i + 1);
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
    return 400;
  if (version[5] != '1') return 505;
  out.version_minor = version[7] == '0' ? 0 : 1;

  if (int s = parse_fields(head, line_end + 2, out, limits.max_headers, 400, 431)) return s;
  if (int s = analyze_framing(out, 400)) return s;
  if (out.chunked && out.has_content_length) return 400;
  if (out.has_transfer_encoding && out.version_minor == 0) return 400;

  int hosts = 0;
  for (const auto& h : out.headers) {
    if (h.name.size() == 4 && http::iequals(h.name, "host")) {
      ++hosts;
      out.host = h.value;
    } else if (h.name.size() == 6 && http::iequals(h.name, "expect") && out.version_minor == 1) {
      // RFC 9110 §10.1.1: an HTTP/1.0 request's expectation is ignored.
      if (!http::iequals(h.value, "100-continue")) return 417;
      out.expect_continue = true;
    } else if (h.name.size() == 12 && http::iequals(h.name, "content-type")) {
      out.grpc = grpc::is_grpc_content_type(h.value);
    } else if (h.name.size() == 7 && http::iequals(h.name, "upgrade")) {
      out.upgrade = h.value;
    }
  }
  // An Upgrade field that Connection does not name asks for nothing.
  if (!out.upgrade.empty() &&
      std::none_of(out.connection_tokens.begin(), out.connection_tokens.end(),
                   [](std::string_view t) { return http::iequals(t, "upgrade"); }))
    out.upgrade = {};
  if (hosts > 1) return 400;
  if (hosts == 0 && out.version_minor == 1) return 400;
  if (hosts == 1 && !valid_authority(out.host)) return 400;
  // RFC 9112 §3.2: a fragment is never part of a request target.
  if (out.target.find('#') != std::string_view::npos) return 400;

  std::string_view target = out.target;
  if (target.front() != '/') {
    // absolute-form (RFC 9112 §3.2.2): the authority replaces Host
    std::string_view scheme_end = "://";
    auto s = target.find(scheme_end);
    if (s == std::string_view::npos || s == 0) {
      if (target == "*" && out.method == "OPTIONS") {
        out.path = target;
        return 0;
      }
      return out.method == "CONNECT" ? 501 : 400;
    }
    std::string_view scheme = target.substr(0, s);
    if (!http::iequals(scheme, "http") && !http::iequals(scheme, "https")) return 400;
    target.remove_prefix(s + 3);
    auto slash = target.find_first_of("/?");
    std::string_view authority = target.substr(0, slash);
    if (!valid_authority(authority)) return 400;  // userinfo ('@') included
    out.host = authority;
    out.absolute_form = true;
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    if (target.front() == '?') return 400;
  }
  auto q = target.find('?');
  out.path = target.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  return 0;
}

int parse_response_head(std::string_view head, response_head& out,
                        std::size_t max_headers) noexcept {
  out.clear();
  out.head_size = head.size();
  const std::size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  // "HTTP/1.x SSS[ reason]"
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return 502;
  if (line[7] != '0' && line[7] != '1') return 502;
  out.version_minor = line[7] - '0';
  int status = 0;
  for (int k = 9; k < 12; ++k) {
    if (line[k] < '0' || line[k] > '9') return 502;
    status = status * 10 + (line[k] - '0');
  }
  if (status < 100 || status > 599) return 502;
  if (line.size() > 12) {
    if (line[12] != ' ') return 502;
    out.reason = line.substr(13);
    if (!valid_value(out.reason)) return 502;
  }
  out.status = status;
  if (int s = parse_fields(head, line_end + 2, out, max_headers, 502, 431)) return s;
  if (int s = analyze_framing(out, 502)) return s;
  // RFC 9112 §6.3 lets Transfer-Encoding win, but says such a message
  // "ought to be handled as an error": it is how responses get split. As
  // nginx does, the response is refused (502) and its connection closed.
  if (out.chunked && out.has_content_length) return 502;
  return 0;
}

bool is_idempotent(std::string_view m) noexcept {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

bool is_hop_by_hop(std::string_view name,
                   const std::vector<std::string_view>& connection_tokens) noexcept {
  switch (name.size()) {
    case 2:
      if (http::iequals(name, "te")) return true;
      break;
    case 7:
      if (http::iequals(name, "upgrade") || http::iequals(name, "trailer")) return true;
      break;
    case 10:
      if (http::iequals(name, "connection") || http::iequals(name, "keep-alive")) return true;
      break;
    case 16:
      if (http::iequals(name, "proxy-connection")) return true;
      break;
    case 17:
      if (http::iequals(name, "transfer-encoding")) return true;
      break;
    default:
      break;
  }
  for (auto t : connection_tokens)
    if (http::iequals(name, t)) return true;
  return false;
}

bool lists_token(std::string_view list, std::string_view token) noexcept {
  bool found = false;
  for_each_token(list, [&](std::string_view item) {
    found = http::iequals(item, token);
    return !found;
  });
  return found;
}

bool lists_only(std::string_view list, std::string_view token) noexcept {
  return for_each_token(list, [&](std::string_view item) { return http::iequals(item, token); });
}

}  // namespace gateway::http1
