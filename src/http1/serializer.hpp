#pragma once
// The HTTP/1.1 wire forms the gateway writes itself: status lines, the
// 100-continue interim answer, chunk framing and local replies. Each is
// written here and nowhere else.
#include <gateway/http.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "asio/asio.hpp"
#include "http1/chunked_decoder.hpp"

namespace gateway::http1 {

// The interim answer to `Expect: 100-continue`.
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// Writes into `out` a complete local reply (head and, unless `head_request`,
// the body). The gateway frames it itself: fields for framing are skipped.
void write_local_reply(std::string& out, int status, std::span<const http::header> fields,
                       std::string_view body, bool close, bool head_request);

// How a request head frames its body on HTTP/1.1.
struct request_framing {
  bool chunked = false;
  bool has_length = false;
  std::uint64_t length = 0;  // with has_length and not chunked
};

// Writes into `out` a request head: "<method> <target> HTTP/1.1", `fields`
// (end-to-end only, no framing fields) and the framing fields.
void write_request_head(std::string& out, std::string_view method, std::string_view target,
                        std::span<const http::header> fields, const request_framing& framing);

// How a response head frames its body on HTTP/1.1.
struct response_framing {
  bool bodyless = false;  // HEAD, 204, 304: no body, and the fields' Content-Length kept as is
  bool chunked = false;   // the body goes chunked
  bool has_length = false;
  std::uint64_t length = 0;  // with has_length and not chunked
  bool close = false;        // the connection closes after this response
  bool keep_alive = false;   // say keep-alive (an HTTP/1.0 client that keeps it)
};

// Writes into `out` a response head: the status line, `fields` (end-to-end
// only; a Content-Length among them is dropped unless the response is
// bodyless) and the framing fields.
void write_response_head(std::string& out, int status, std::string_view reason,
                         std::span<const http::header> fields, const response_framing& framing);

// Chunk framing of body pieces queued as views for one gathered write. The
// size line and trailer text live in the framer, so a framer serves one
// message direction and its views are valid until its next call.
class chunk_framer {
 public:
  // The "HEX\r\n" line of a chunk of `size` bytes.
  asio::const_buffer size_line(std::uint64_t size) noexcept;
  // Appends `pieces` (`bytes` in all) as one chunk (nothing when empty).
  void chunk(std::span<const asio::const_buffer> pieces, std::uint64_t bytes,
             std::vector<asio::const_buffer>& out);
  // Appends the last chunk with `trailers`.
  void end(std::span<const http::header> trailers, std::vector<asio::const_buffer>& out);

 private:
  char line_[24];
  std::string trailer_text_;
};

// What one pass of rechunk over the buffered input found.
struct rechunk_result {
  std::size_t used = 0;  // input bytes decoded (to consume after the write)
  std::uint64_t data_bytes = 0;
  bool done = false;           // the last chunk and the trailers were read
  bool error = false;          // malformed framing
  std::size_t data_count = 0;  // data views appended to `out`
};

// Decodes what `input` holds of a chunked body and appends to `out` views of
// its data (into `input`).
rechunk_result rechunk(chunked_decoder& decoder, std::string_view input,
                       std::vector<asio::const_buffer>& out);

}  // namespace gateway::http1
