// The HTTP/1.1 request side as a connection reads it: heads and bodies one
// after another (pipelined), each head found by the scanner, checked for
// size while incomplete, parsed, and its body framed by Content-Length or
// decoded chunked (whole, and split in two, which must agree).
#include <cstdint>
#include <string_view>

#include "chunked_body.hpp"
#include "fuzz_check.hpp"
#include "http1/http1_parser.hpp"

using namespace gateway;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t cut = data[0];  // where chunked bodies are split
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const http1::head_limits limits{512, 4096, 32};
  http1::request_head head;
  for (int n = 0; n < 32 && !in.empty(); ++n) {
    http1::head_scanner scanner;
    const std::size_t end = scanner.find_end(in);
    FUZZ_CHECK(end <= in.size());
    if (end == 0) {
      const int status = http1::incomplete_request_status(in, limits);
      FUZZ_CHECK(status == 0 || (status >= 400 && status < 500));
      break;
    }
    const std::string_view text = in.substr(0, end);
    const int status = http1::parse_request_head(text, head, limits);
    if (status) {
      FUZZ_CHECK(status >= 400 && status < 600);
      break;
    }
    FUZZ_CHECK(!head.method.empty());
    FUZZ_CHECK(within(head.method, text) && within(head.target, text));
    // An absolute-form target without a path has the path "/" (a literal).
    FUZZ_CHECK((within(head.path, text) || head.path == "/") && within(head.query, text));
    FUZZ_CHECK(head.headers.size() <= limits.max_headers);
    for (const auto& h : head.headers) {
      FUZZ_CHECK(within(h.name, text) && within(h.value, text));
      FUZZ_CHECK(!h.name.empty());
    }
    // RFC 9112 §6.3: never both framings (a smuggling vector).
    FUZZ_CHECK(!(head.chunked && head.has_content_length));
    in.remove_prefix(end);
    if (head.chunked) {
      const chunked_outcome body = decode_chunked(in, cut);
      if (!body.done) break;
      in.remove_prefix(body.consumed);
    } else if (head.has_content_length) {
      if (head.content_length > in.size()) break;
      in.remove_prefix(static_cast<std::size_t>(head.content_length));
    }
  }
  return 0;
}
