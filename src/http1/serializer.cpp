#include "http1/serializer.hpp"

#include <charconv>
#include <cstring>

#include "http1/head_text.hpp"

namespace gateway::http1 {

using namespace std::string_view_literals;

namespace {
constexpr std::string_view crlf = "\r\n";
constexpr std::string_view last_chunk = "0\r\n";
constexpr std::string_view last_chunk_no_trailers = "0\r\n\r\n";

// Writes a head into a string in one pass: sized once for the most it can
// take, filled through a pointer, cut to what was written when done. Appending
// piece by piece checked the string's room four times per field, which was
// most of a proxied head's cost.
class head_writer {
 public:
  // Longest decimal of a 64-bit number.
  static constexpr std::size_t max_digits = 20;
  // The longest framing fields: "content-length: <max_digits>\r\n".
  static constexpr std::size_t max_framing = 16 + max_digits + 2;

  head_writer(std::string& out, std::size_t most) : out_(out) {
    out.resize(most);
    at_ = out.data();
  }
  ~head_writer() { out_.resize(static_cast<std::size_t>(at_ - out_.data())); }
  head_writer(const head_writer&) = delete;
  head_writer& operator=(const head_writer&) = delete;

  static std::size_t field_size(const http::header& h) noexcept {
    return h.name.size() + h.value.size() + 4;
  }
  void put(std::string_view s) noexcept {
    if (s.empty()) return;  // an empty view's data may be null
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  void put(char c) noexcept { *at_++ = c; }
  void number(std::uint64_t v) noexcept { at_ = std::to_chars(at_, at_ + max_digits, v).ptr; }
  void field(const http::header& h) noexcept {
    put(h.name);
    put(": "sv);
    put(h.value);
    put(crlf);
  }
  // The fields that frame a message's body: chunked, or a known length.
  void body_framing(bool chunked, bool has_length, std::uint64_t length) noexcept {
    if (chunked) {
      put("transfer-encoding: chunked\r\n"sv);
    } else if (has_length) {
      put("content-length: "sv);
      number(length);
      put(crlf);
    }
  }

 private:
  std::string& out_;
  char* at_;
};
}  // namespace

void write_status_line(std::string& out, int status, std::string_view reason) {
  out.append("HTTP/1.1 "sv);
  append_uint(out, static_cast<std::uint64_t>(status));
  out.push_back(' ');
  out.append(reason.empty() ? http::reason_phrase(status) : reason);
  out.append(crlf);
}

void write_local_reply(std::string& out, int status, std::span<const http::header> fields,
                       std::string_view body, bool close, bool head_request) {
  out.clear();
  write_status_line(out, status);
  for (const http::header& h : fields) {
    // The gateway frames its answer itself.
    if (http::iequals(h.name, "content-length") || http::iequals(h.name, "transfer-encoding") ||
        http::iequals(h.name, "connection"))
      continue;
    append_field(out, h.name, h.value);
  }
  out.append("content-length: "sv);
  append_uint(out, body.size());
  out.append(crlf);
  if (close) out.append("connection: close\r\n"sv);
  out.append(crlf);
  // An answer to HEAD carries the length of what GET would send, but no body.
  if (!head_request) out.append(body);
}

void write_request_head(std::string& out, std::string_view method, std::string_view target,
                        std::span<const http::header> fields, const request_framing& framing) {
  std::size_t most = method.size() + 1 + target.size() + 11 + head_writer::max_framing + 2;
  for (const http::header& h : fields)
    most += head_writer::field_size(h);
  head_writer w(out, most);
  w.put(method);
  w.put(' ');
  w.put(target);
  w.put(" HTTP/1.1\r\n"sv);
  for (const http::header& h : fields)
    w.field(h);
  w.body_framing(framing.chunked, framing.has_length, framing.length);
  w.put(crlf);
}

void write_response_head(std::string& out, int status, std::string_view reason,
                         std::span<const http::header> fields, const response_framing& framing) {
  if (reason.empty()) reason = http::reason_phrase(status);
  // The status line, the framing, "connection: keep-alive" and the blank line.
  std::size_t most =
      9 + head_writer::max_digits + 1 + reason.size() + 2 + head_writer::max_framing + 24 + 2;
  for (const http::header& h : fields)
    most += head_writer::field_size(h);
  head_writer w(out, most);
  w.put("HTTP/1.1 "sv);
  w.number(static_cast<std::uint64_t>(status));
  w.put(' ');
  w.put(reason);
  w.put(crlf);
  for (const http::header& h : fields) {
    // A bodyless response keeps its Content-Length: it describes what GET would send.
    if (!framing.bodyless && h.name.size() == 14 && http::iequals(h.name, "content-length"))
      continue;
    w.field(h);
  }
  if (!framing.bodyless) w.body_framing(framing.chunked, framing.has_length, framing.length);
  if (framing.close)
    w.put("connection: close\r\n"sv);
  else if (framing.keep_alive)
    w.put("connection: keep-alive\r\n"sv);
  w.put(crlf);
}

asio::const_buffer chunk_framer::size_line(std::uint64_t size) noexcept {
  auto r = std::to_chars(line_, line_ + 20, size, 16);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  return asio::const_buffer(line_, static_cast<std::size_t>(r.ptr + 2 - line_));
}

void chunk_framer::chunk(std::span<const asio::const_buffer> pieces, std::uint64_t bytes,
                         std::vector<asio::const_buffer>& out) {
  if (bytes == 0) return;
  out.push_back(size_line(bytes));
  out.insert(out.end(), pieces.begin(), pieces.end());
  out.emplace_back(crlf.data(), crlf.size());
}

void chunk_framer::end(std::span<const http::header> trailers,
                       std::vector<asio::const_buffer>& out) {
  if (trailers.empty()) {
    out.emplace_back(last_chunk_no_trailers.data(), last_chunk_no_trailers.size());
    return;
  }
  trailer_text_.assign(last_chunk);
  for (const http::header& h : trailers)
    append_field(trailer_text_, h.name, h.value);
  trailer_text_.append(crlf);
  out.emplace_back(trailer_text_.data(), trailer_text_.size());
}

rechunk_result rechunk(chunked_decoder& decoder, std::string_view input,
                       std::vector<asio::const_buffer>& out) {
  rechunk_result r;
  while (r.used < input.size()) {
    auto step = decoder.decode(input.substr(r.used));
    if (step.error) {
      r.error = true;
      return r;
    }
    r.used += step.consumed;
    if (!step.data.empty()) {
      out.emplace_back(step.data.data(), step.data.size());
      r.data_bytes += step.data.size();
      ++r.data_count;
    }
    if ((r.done = step.done)) break;
  }
  return r;
}

}  // namespace gateway::http1
