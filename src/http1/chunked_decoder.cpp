#include "http1/chunked_decoder.hpp"

#include <gateway/http.hpp>

#include <algorithm>

namespace gateway::http1 {
namespace {
constexpr std::size_t max_extension_bytes = 4096;
constexpr unsigned max_size_digits = 15;  // 2^60: far beyond any real body, no overflow

// A trailer line must be a field: a token name, a colon, then the value.
bool is_field_line(std::string_view line) noexcept {
  std::size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    bool token = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!token) break;
    ++i;
  }
  return i > 0 && i < line.size() && line[i] == ':';
}

// RFC 9110 §6.5.1: fields a recipient must have before the content (framing,
// routing, authentication, request modifiers, response controls, content
// format) mean nothing, or something dangerous, as trailers: they are dropped.
bool prohibited_trailer(std::string_view line) noexcept {
  static constexpr std::string_view names[] = {"content-length",
                                               "transfer-encoding",
                                               "trailer",
                                               "te",
                                               "host",
                                               "connection",
                                               "keep-alive",
                                               "upgrade",
                                               "proxy-connection",
                                               "authorization",
                                               "proxy-authorization",
                                               "www-authenticate",
                                               "proxy-authenticate",
                                               "cookie",
                                               "set-cookie",
                                               "expect",
                                               "max-forwards",
                                               "range",
                                               "if-match",
                                               "if-none-match",
                                               "if-modified-since",
                                               "if-unmodified-since",
                                               "if-range",
                                               "cache-control",
                                               "age",
                                               "expires",
                                               "location",
                                               "retry-after",
                                               "vary",
                                               "content-type",
                                               "content-encoding",
                                               "content-range",
                                               "x-forwarded-for",
                                               "x-forwarded-host",
                                               "x-forwarded-proto",
                                               "forwarded"};
  const std::string_view name = line.substr(0, line.find(':'));
  for (std::string_view n : names)
    if (http::iequals(name, n)) return true;
  return false;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

void chunked_decoder::reset() noexcept {
  state_ = state::size;
  remaining_ = 0;
  size_digits_ = 0;
  ext_bytes_ = 0;
  trailers_.clear();
  trailer_bytes_ = 0;
}

chunked_decoder::step chunked_decoder::decode(std::string_view in) noexcept {
  step r;
  std::size_t i = 0;
  auto fail = [&] {
    r.consumed = i;
    r.error = true;
    return r;
  };
  while (i < in.size()) {
    char c = in[i];
    switch (state_) {
      case state::size: {
        int v = hex_value(c);
        if (v >= 0) {
          if (++size_digits_ > max_size_digits) return fail();
          remaining_ = remaining_ * 16 + static_cast<unsigned>(v);
          ++i;
          break;
        }
        if (size_digits_ == 0) return fail();
        if (c == '\r') {
          state_ = state::size_lf;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = state::extension;
          ext_bytes_ = 0;
        } else {
          return fail();
        }
        ++i;
        break;
      }
      case state::extension:
        // chunk-ext is skipped, never forwarded: it is bounded and may not hold CTLs.
        if (c == '\r') {
          state_ = state::size_lf;
        } else if (c == '\n' || (static_cast<unsigned char>(c) < 0x20 && c != '\t') ||
                   ++ext_bytes_ > max_extension_bytes) {
          return fail();
        }
        ++i;
        break;
      case state::size_lf:
        if (c != '\n') return fail();
        ++i;
        size_digits_ = 0;
        state_ = remaining_ == 0 ? state::trailer_start : state::data;
        break;
      case state::data: {
        std::size_t n = static_cast<std::size_t>(
            std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(in.size() - i)));
        r.data = in.substr(i, n);
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = state::data_cr;
        r.consumed = i;
        return r;
      }
      case state::data_cr:
        if (c != '\r') return fail();
        state_ = state::data_lf;
        ++i;
        break;
      case state::data_lf:
        if (c != '\n') return fail();
        state_ = state::size;
        ++i;
        break;
      case state::trailer_start:
        if (c == '\r') {
          state_ = state::final_lf;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == ':') {
          return fail();  // obs-fold, bare LF or an empty field name
        } else {
          state_ = state::trailer_line;
          trailers_.push_back(c);
        }
        ++i;
        break;
      case state::trailer_line:
        if (++trailer_bytes_ > max_trailer_) return fail();
        if (c == '\r') {
          state_ = state::trailer_lf;
        } else if (c == '\n' || c == '\0') {
          return fail();
        } else {
          trailers_.push_back(c);
        }
        ++i;
        break;
      case state::trailer_lf: {
        if (c != '\n') return fail();
        auto start = trailers_.rfind("\r\n");
        start = start == std::string::npos ? 0 : start + 2;
        const std::string_view line = std::string_view(trailers_).substr(start);
        if (!is_field_line(line)) return fail();
        if (prohibited_trailer(line))
          trailers_.resize(start);
        else
          trailers_.append("\r\n");
        state_ = state::trailer_start;
        ++i;
        break;
      }
      case state::final_lf:
        if (c != '\n') return fail();
        ++i;
        state_ = state::done;
        r.consumed = i;
        r.done = true;
        return r;
      case state::done:
        r.consumed = i;
        r.done = true;
        return r;
    }
  }
  r.consumed = i;
  r.done = state_ == state::done;
  return r;
}

void chunked_decoder::trailer_fields(std::vector<http::header>& out) const {
  // Each kept line was checked as a field line when it arrived.
  std::string_view rest = trailers_;
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
      value.remove_suffix(1);
    out.push_back({line.substr(0, colon), value});
  }
}

}  // namespace gateway::http1
