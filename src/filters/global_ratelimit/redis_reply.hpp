#pragma once
// The Redis (RESP) replies the global rate limit reads: apart from its
// client so the parser can be tested and fuzzed on its own.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gateway::filters {

// Parses one RESP reply at the start of `in`; returns its length (0:
// incomplete, npos: malformed: then the connection cannot be read on).
// Integers go to `value`; `error` is set for "-ERR ...". Integers and
// lengths have at most 18 digits, bulk data must end with CRLF, and arrays
// nest at most 4 deep.
std::size_t parse_redis_reply(std::string_view in, std::int64_t& value, bool& error);

}  // namespace gateway::filters
