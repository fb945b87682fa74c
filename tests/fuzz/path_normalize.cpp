// Path normalisation under every rule set: never a crash, and a property: a
// path it accepts comes out with no dot segment, no "//" when slashes merge,
// and normalising it again changes nothing (one spelling per path).
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pipeline/request_normalizer.hpp"

using namespace gateway;

namespace {
bool has_dot_segment(std::string_view p) {
  for (std::size_t at = 0; at < p.size();) {
    const std::size_t next = p.find('/', at + 1);
    const std::string_view seg =
        p.substr(at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1);
    if (seg == "." || seg == "..") return true;
    if (next == std::string_view::npos) break;
    at = next;
  }
  return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  request_normalization rules;
  rules.merge_slashes = (data[0] & 1) != 0;
  rules.escaped_slashes_action =
      static_cast<request_normalization::escaped_slashes>((data[0] >> 1) % 4);
  std::string path(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (path.empty() || path[0] != '/') path.insert(0, "/");  // as the parser hands it over
  std::string once;
  bool unescaped = false, rejected = false;
  const bool changed = normalize_path(path, rules, once, unescaped, rejected);
  if (rejected) return 0;
  const std::string normal = changed ? once : path;
  FUZZ_CHECK(!normal.empty() && normal[0] == '/');
  FUZZ_CHECK(!has_dot_segment(normal));
  if (rules.merge_slashes) FUZZ_CHECK(normal.find("//") == std::string::npos);
  std::string twice;
  bool unescaped_again = false, rejected_again = false;
  const bool changed_again = normalize_path(normal, rules, twice, unescaped_again, rejected_again);
  FUZZ_CHECK(!rejected_again);
  FUZZ_CHECK(!changed_again || twice == normal);
  return 0;
}
