#pragma once
// One JSON Web Token checked against a key set and a provider's rules: the
// part of the JWT filter that reads what a client sent (compact JWS, base64url
// JSON parts, signature, issuer, audiences, exp and nbf). Kept apart from the
// filter so it can be tested and fuzzed on its own.
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/jwk.hpp"

namespace gateway::filters {

// What a provider asks of a token besides its signature.
struct token_rules {
  std::string issuer;                  // "" accepts any
  std::vector<std::string> audiences;  // empty accepts any; else "aud" must name one
  std::chrono::seconds skew{60};       // allowed clock difference for exp and nbf
};

// Why a token was refused; reason() is the text the client gets, so it says
// which check failed and never anything about keys.
enum class refusal {
  none,
  missing,
  malformed,
  algorithm,
  no_key,
  signature,
  issuer,
  audience,
  expired,
  early,
  no_key_set
};
std::string_view reason(refusal r);

// A numeric claim ("exp", "nbf") of `claims`: nullopt when absent; `bad` is
// set when present but not a number a time can be (a string, 1e300, a
// year after 9999).
std::optional<std::int64_t> number_claim(const boost::json::object& claims, std::string_view name,
                                         bool& bad);

// exp and nbf against `now` (seconds since the epoch), with the rules' skew.
refusal check_times(const token_rules& rules, std::optional<std::int64_t> exp,
                    std::optional<std::int64_t> nbf, std::int64_t now);

// Checks `token` (compact JWS) against `keys` and `rules` at `now`; on
// success (refusal::none) `claims` holds its payload.
refusal check_token(const token_rules& rules, const std::vector<tls::jwk>& keys,
                    std::string_view token, std::int64_t now, boost::json::object& claims);

// Seconds since the epoch, as the checks want it.
std::int64_t unix_now();

}  // namespace gateway::filters
