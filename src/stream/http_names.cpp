#include <gateway/http.hpp>

#include "core/swar.hpp"

namespace gateway::http {

bool iequals(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  if (n >= 8) {
    // Whole words, then the last eight bytes again (overlapping the last word).
    for (std::size_t i = 0; i + 8 <= n; i += 8)
      if (swar::fold_case(swar::load8(x + i)) != swar::fold_case(swar::load8(y + i))) return false;
    return swar::fold_case(swar::load8(x + n - 8)) == swar::fold_case(swar::load8(y + n - 8));
  }
  if (n >= 4) {
    const auto pack = [n](const char* p) {
      return swar::load4(p) | std::uint64_t{swar::load4(p + n - 4)} << 32;
    };
    return swar::fold_case(pack(x)) == swar::fold_case(pack(y));
  }
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(x[i]);
    const unsigned char d = static_cast<unsigned char>(y[i]);
    if (c != d && ((c | 0x20) != (d | 0x20) || (c | 0x20) < 'a' || (c | 0x20) > 'z')) return false;
  }
  return true;
}

const header* find_header(std::span<const header> headers, std::string_view name) noexcept {
  for (const header& h : headers)
    if (iequals(h.name, name)) return &h;
  return nullptr;
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a teapot";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

}  // namespace gateway::http
