#pragma once
// One spelling of each request before anything reads it: the path decoded
// where that changes no meaning, freed of dot segments and repeated slashes,
// escaped slashes and underscored field names handled as the listener says.
// The router, filters, WAF, access log, evaluation and the upstream all see
// this result, so no layer can be passed with a spelling another reads
// differently (/%61dmin, /public/%2e%2e/admin, //admin).
#include <gateway/config.hpp>

#include <string>
#include <string_view>

#include "http1/http1_parser.hpp"

namespace gateway {

enum class normalize_result : std::uint8_t {
  ok,        // use the request as it now is
  reject,    // answer 400
  redirect,  // answer 307 with Location: the request's (new) target
};

// Normalises `rq` in place by `rules`. When the target changes it is written
// into `target_buf` (reused storage, which must outlive the request) and
// rq.target, rq.path and rq.query view it; dropped fields leave rq.headers.
normalize_result normalize_request(http1::request_head& rq, const request_normalization& rules,
                                   std::string& target_buf);

// The path part of normalize_request: writes the normal form of `path` to
// `out` and returns whether it differs. `unescaped_slash` tells whether a %2F
// or %5C was decoded. False with `rejected` set when the path must be refused.
bool normalize_path(std::string_view path, const request_normalization& rules, std::string& out,
                    bool& unescaped_slash, bool& rejected);

}  // namespace gateway
