// The JWT checks on their own: form, times and the range a time claim may have.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include <string>

#include "filters/jwt/jwt_token.hpp"
#include "tls/digest.hpp"

using namespace gateway::filters;

namespace {
constexpr std::int64_t now = 1'800'000'000;

std::string b64url(std::string_view data) {
  std::string s = gateway::tls::base64_encode(data);
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  for (char& c : s)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

// The claim `exp` of a payload, as the checks read it.
std::optional<std::int64_t> exp_of(std::string_view payload, bool& bad) {
  bad = false;
  const boost::json::value v = boost::json::parse(payload);
  return number_claim(v.get_object(), "exp", bad);
}
}  // namespace

TEST_SUITE("jwt token") {
  TEST_CASE("time claims are numbers up to the year 9999, integral or not") {
    bool bad = false;
    CHECK(exp_of(R"({"exp":1800000100})", bad) == 1800000100);
    CHECK(!bad);
    CHECK(exp_of(R"({"exp":1800000100.75})", bad) == 1800000100);
    CHECK(!bad);
    CHECK(exp_of(R"({"exp":253402300799})", bad) == 253402300799);
    CHECK(!bad);
    CHECK(exp_of(R"({"sub":"x"})", bad) == std::nullopt);
    CHECK(!bad);
    // Beyond: no date, and a cast or the skew added would overflow. The
    // fuzzer found 1.83e113 (a float-to-integer cast out of range).
    for (const char* payload :
         {R"({"exp":253402300800})", R"({"exp":1.83e113})", R"({"exp":-1e300})",
          R"({"exp":9223372036854775807})", R"({"exp":18446744073709551615})",
          R"({"exp":"tomorrow"})", R"({"exp":null})"}) {
      CAPTURE(payload);
      CHECK(exp_of(payload, bad) == std::nullopt);
      CHECK(bad);
    }
  }

  TEST_CASE("a token of three base64url JSON parts, alg none refused") {
    token_rules rules;
    boost::json::object claims;
    const std::vector<gateway::tls::jwk> keys;
    CHECK(check_token(rules, keys, "a.b", now, claims) == refusal::malformed);
    CHECK(check_token(rules, keys, "a.b.c.d", now, claims) == refusal::malformed);
    const std::string none = b64url(R"({"alg":"none"})") + "." + b64url(R"({"sub":"x"})") + ".";
    CHECK(check_token(rules, keys, none, now, claims) == refusal::algorithm);
    const std::string far = b64url(R"({"alg":"HS256"})") + "." + b64url(R"({"exp":1e300})") + ".";
    CHECK(check_token(rules, keys, far, now, claims) == refusal::no_key);
  }

  TEST_CASE("exp and nbf with the skew, at their edges") {
    token_rules rules;
    rules.skew = std::chrono::seconds(60);
    CHECK(check_times(rules, now - 60, std::nullopt, now) == refusal::none);
    CHECK(check_times(rules, now - 61, std::nullopt, now) == refusal::expired);
    CHECK(check_times(rules, std::nullopt, now + 60, now) == refusal::none);
    CHECK(check_times(rules, std::nullopt, now + 61, now) == refusal::early);
  }
}
