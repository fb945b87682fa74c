#include "pipeline/request_normalizer.hpp"

#include <algorithm>

#include <boost/url/grammar/hexdig_chars.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace gateway {
namespace {

using slashes = request_normalization::escaped_slashes;

// True when `path` may change: an escape, a repeated slash or a dot segment.
// The common path answers false after one pass without writing anything.
bool may_change(std::string_view path, bool merge) noexcept {
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') return true;
    if (c != '/' || i + 1 == path.size()) continue;
    const char n = path[i + 1];
    if (n == '/' && merge) return true;
    if (n == '.') {
      std::string_view rest = path.substr(i + 2);
      if (rest.empty() || rest.front() == '/') return true;                          // "/."
      if (rest.front() == '.' && (rest.size() == 1 || rest[1] == '/')) return true;  // "/.."
    }
  }
  return false;
}

// RFC 3986 §5.2.4 on a path that starts with '/': "." and ".." segments go.
// Ours, not Boost.URL's url::normalize_path: in Boost 1.81 that one leaves
// "/.." and "/a/b/../../.." as "/..", and decodes %2F into a separator,
// which would route /a%2Fb as /a/b whatever escapedSlashesAction says.
void remove_dot_segments(std::string_view path, std::string& out) {
  out.clear();
  while (!path.empty()) {
    const std::size_t next = path.find('/', 1);
    const bool last = next == std::string_view::npos;
    const std::string_view seg = path.substr(1, last ? path.size() - 1 : next - 1);
    if (seg == ".") {
      if (last) out.push_back('/');
    } else if (seg == "..") {
      const auto cut = out.rfind('/');
      out.resize(cut == std::string::npos ? 0 : cut);
      if (last) out.push_back('/');
    } else {
      out.push_back('/');
      out.append(seg);
    }
    path = last ? std::string_view() : path.substr(next);
  }
  if (out.empty()) out.push_back('/');
}

}  // namespace

bool normalize_path(std::string_view path, const request_normalization& rules, std::string& out,
                    bool& unescaped_slash, bool& rejected) {
  unescaped_slash = rejected = false;
  if (path.empty() || path.front() != '/' || !may_change(path, rules.merge_slashes)) return false;
  // 1. Escapes: unreserved characters decoded, the rest in upper-case hex,
  //    slashes as the listener says; repeated slashes merged on the way.
  //    Boost.URL checks every escape is '%' and two hex digits.
  if (!boost::urls::make_pct_string_view(path)) {
    rejected = true;
    return false;
  }
  std::string decoded;
  decoded.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      const auto v =
          static_cast<unsigned char>(boost::urls::grammar::hexdig_value(path[i + 1]) * 16 +
                                     boost::urls::grammar::hexdig_value(path[i + 2]));
      i += 2;
      if (boost::urls::unreserved_chars(static_cast<char>(v))) {
        decoded.push_back(static_cast<char>(v));
        continue;
      }
      if ((v == '/' || v == '\\') && rules.escaped_slashes_action != slashes::keep_unchanged) {
        if (rules.escaped_slashes_action == slashes::reject_request) {
          rejected = true;
          return false;
        }
        unescaped_slash = true;
        c = static_cast<char>(v);
      } else {
        static constexpr char hex[] = "0123456789ABCDEF";
        decoded.push_back('%');
        decoded.push_back(hex[v >> 4]);
        decoded.push_back(hex[v & 15]);
        continue;
      }
    }
    if (c == '/' && rules.merge_slashes && !decoded.empty() && decoded.back() == '/') continue;
    decoded.push_back(c);
  }
  // 2. Dot segments, now that "%2e" reads ".".
  remove_dot_segments(decoded, out);
  return out != path;
}

normalize_result normalize_request(http1::request_head& rq, const request_normalization& rules,
                                   std::string& target_buf) {
  using underscores = request_normalization::underscores;
  if (rules.with_underscores != underscores::allow) {
    auto has_underscore = [](const http::header& h) {
      return h.name.find('_') != std::string_view::npos;
    };
    if (rules.with_underscores == underscores::reject_request) {
      if (std::any_of(rq.headers.begin(), rq.headers.end(), has_underscore))
        return normalize_result::reject;
    } else {
      std::erase_if(rq.headers, has_underscore);
    }
  }
  std::string path;
  bool unescaped_slash = false, rejected = false;
  if (!normalize_path(rq.path, rules, path, unescaped_slash, rejected))
    return rejected ? normalize_result::reject : normalize_result::ok;
  const bool has_query = rq.target.find('?') != std::string_view::npos;
  target_buf.assign(path);
  if (has_query) target_buf.append("?").append(rq.query);
  rq.target = target_buf;
  rq.path = std::string_view(target_buf).substr(0, path.size());
  rq.query = has_query ? std::string_view(target_buf).substr(path.size() + 1) : std::string_view();
  return unescaped_slash && rules.escaped_slashes_action == slashes::unescape_and_redirect
             ? normalize_result::redirect
             : normalize_result::ok;
}

}  // namespace gateway
