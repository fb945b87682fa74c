// What an upstream sends: a response head (status line, fields, framing)
// and its chunked body, which must decode the same whole and split.
#include <cstdint>
#include <string_view>

#include "chunked_body.hpp"
#include "fuzz_check.hpp"
#include "http1/http1_parser.hpp"

using namespace gateway;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t cut = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  http1::head_scanner scanner;
  const std::size_t end = scanner.find_end(in);
  FUZZ_CHECK(end <= in.size());
  if (end == 0) return 0;
  const std::string_view text = in.substr(0, end);
  http1::response_head head;
  if (http1::parse_response_head(text, head, 32) != 0) return 0;
  FUZZ_CHECK(head.status >= 100 && head.status <= 999);
  FUZZ_CHECK(within(head.reason, text));
  FUZZ_CHECK(head.headers.size() <= 32);
  for (const auto& h : head.headers)
    FUZZ_CHECK(within(h.name, text) && within(h.value, text) && !h.name.empty());
  FUZZ_CHECK(!(head.chunked && head.has_content_length));
  if (head.chunked) decode_chunked(in.substr(end), cut);
  return 0;
}
