#include "http1/serializer.hpp"

#include <charconv>
#include <cstring>

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
  // "connection: keep-alive\r\n", the longer of the two connection fields.
  static constexpr std::size_t max_connection = 24;
  // A status line but its reason: "HTTP/1.1 <max_digits> " and CRLF.
  static constexpr std::size_t status_line_less_reason = 9 + max_digits + 1 + 2;

  head_writer(std::string& out, std::size_t most) : out_(out) {
    out.resize(most);
    at_ = out.data();
  }
  ~head_writer() { out_.resize(static_cast<std::size_t>(at_ - out_.data())); }
  head_writer(const head_writer&) = delete;
  head_writer& operator=(const head_writer&) = delete;

  // Room for "name: value\r\n" of every field.
  static std::size_t fields_size(std::span<const http::header> fields) noexcept {
    std::size_t n = 0;
    for (const http::header& h : fields)
      n += h.name.size() + h.value.size() + 4;
    return n;
  }
  void put(std::string_view s) noexcept {
    if (s.empty()) return;  // an empty view's data may be null
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  void put(char c) noexcept { *at_++ = c; }
  void number(std::uint64_t v) noexcept { at_ = std::to_chars(at_, at_ + max_digits, v).ptr; }
  // "HTTP/1.1 <status> <reason>\r\n"; `reason` already chosen (see reason_for).
  void status_line(int status, std::string_view reason) noexcept {
    put("HTTP/1.1 "sv);
    number(static_cast<std::uint64_t>(status));
    put(' ');
    put(reason);
    put(crlf);
  }
  static std::string_view reason_for(int status, std::string_view reason) noexcept {
    return reason.empty() ? http::reason_phrase(status) : reason;
  }
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

void write_local_reply(std::string& out, int status, std::span<const http::header> fields,
                       std::string_view body, bool close, bool head_request) {
  const std::string_view reason = head_writer::reason_for(status, {});
  // An answer to HEAD carries the length of what GET would send, but no body.
  const std::string_view sent = head_request ? std::string_view() : body;
  head_writer w(out, head_writer::status_line_less_reason + reason.size() +
                         head_writer::fields_size(fields) + head_writer::max_framing +
                         head_writer::max_connection + 2 + sent.size());
  w.status_line(status, reason);
  for (const http::header& h : fields) {
    // The gateway frames its answer itself.
    if (http::iequals(h.name, "content-length") || http::iequals(h.name, "transfer-encoding") ||
        http::iequals(h.name, "connection"))
      continue;
    w.field(h);
  }
  w.body_framing(false, true, body.size());
  if (close) w.put("connection: close\r\n"sv);
  w.put(crlf);
  w.put(sent);
}

void write_request_head(std::string& out, std::string_view method, std::string_view target,
                        std::span<const http::header> fields, const request_framing& framing) {
  // "<method> <target> HTTP/1.1\r\n", the fields, the framing, the blank line.
  head_writer w(out, method.size() + 1 + target.size() + 11 + head_writer::fields_size(fields) +
                         head_writer::max_framing + 2);
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
  reason = head_writer::reason_for(status, reason);
  head_writer w(out, head_writer::status_line_less_reason + reason.size() +
                         head_writer::fields_size(fields) + head_writer::max_framing +
                         head_writer::max_connection + 2);
  w.status_line(status, reason);
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
  {
    head_writer w(trailer_text_, last_chunk.size() + head_writer::fields_size(trailers) + 2);
    w.put(last_chunk);
    for (const http::header& h : trailers)
      w.field(h);
    w.put(crlf);
  }  // cut to what was written before the view is taken
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
