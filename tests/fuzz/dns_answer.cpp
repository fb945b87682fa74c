// A DNS answer from a nameserver the gateway asks (or anything that answers
// from its address): never a crash, and what it reports holds together.
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "upstream/dns_message.hpp"

using namespace gateway;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint16_t type = (data[0] & 1) ? dns::type_aaaa : dns::type_a;
  const std::string_view answer(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::uint16_t id = answer.size() >= 2 ? dns::get16(answer, 0) : 0;
  const dns::parsed p = dns::parse_answer(answer, id, type);
  if (!p.ok) {
    FUZZ_CHECK(p.addresses.empty() || answer.size() >= 12);
    return 0;
  }
  FUZZ_CHECK(answer.size() >= 12);
  // Every address took at least a whole record: 11 bytes of header plus its data.
  FUZZ_CHECK(p.addresses.size() * (type == dns::type_a ? 15 : 27) <= answer.size());
  FUZZ_CHECK(p.addresses.size() <= dns::get16(answer, 6));
  for (const auto& a : p.addresses)
    FUZZ_CHECK(type == dns::type_a ? a.is_v4() : a.is_v6());
  return 0;
}
