// The JWT checks on what a client sends, and the JWKS parser on what a key
// server sends. Three modes by the first byte:
//  0: the rest is a JWKS document: an error or keys, never a crash; each key
//     then verifies a fuzzed signature (false, not a crash).
//  1: the rest is a token, checked against fixed keys of every type.
//  2: the rest is a token payload, signed with the fixed HMAC key; the
//     property: a payload that is a JSON object with sound times is accepted
//     (or refused for its claims, never its signature or form), and the same
//     token with one signature byte changed is refused for its signature.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/parse.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "filters/jwt/jwt_token.hpp"
#include "fuzz_check.hpp"
#include "tls/digest.hpp"

using namespace gateway;
using filters::refusal;

namespace {

constexpr std::string_view secret = "fuzzing-secret-of-32-bytes-long!";

// The fixed keys: an HMAC secret, an EC P-256 key and an Ed25519 key.
const std::vector<tls::jwk>& fixed_keys() {
  static const std::vector<tls::jwk> keys = tls::parse_jwks(R"({"keys":[
    {"kty":"oct","kid":"h","alg":"HS256","k":"ZnV6emluZy1zZWNyZXQtb2YtMzItYnl0ZXMtbG9uZyE"},
    {"kty":"EC","kid":"e","crv":"P-256","x":"K7RDThUleYWbCu_2vg4O-6DoPtGcOilyEVVTm_kLO4A",
     "y":"re41pLm1WbeovXYoQ4uSDZN-qmfowbMMX15QzNrmuik"},
    {"kty":"OKP","kid":"d","crv":"Ed25519","x":"XeQkQBjbSbsp-kjKDfhtS1C5ODrVZiEHKQAbhD79ZhI"}]})");
  return keys;
}

std::string b64url(std::string_view data) {
  std::string s = tls::base64_encode(data);
  while (!s.empty() && s.back() == '=')
    s.pop_back();
  for (char& c : s)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

std::string hs256(std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

constexpr std::int64_t now = 1'800'000'000;

void jwks(std::string_view text) {
  std::vector<tls::jwk> keys;
  try {
    keys = tls::parse_jwks(text);
  } catch (const std::exception&) {
    return;
  }
  for (const tls::jwk& k : keys)
    for (std::string_view alg : {"RS256", "PS384", "ES256", "ES512", "EdDSA", "HS256", "none"})
      if (k.suits(alg)) (void)k.verify(alg, text, text.substr(text.size() / 2));
}

void token(std::string_view text) {
  filters::token_rules rules;
  rules.issuer = "https://issuer.example";
  rules.audiences = {"a", "b"};
  boost::json::object claims;
  const refusal r = filters::check_token(rules, fixed_keys(), text, now, claims);
  if (r == refusal::none) FUZZ_CHECK(claims.if_contains("iss") != nullptr);
}

void signed_payload(std::string_view payload) {
  const std::string head = b64url(R"({"alg":"HS256","kid":"h","typ":"JWT"})");
  const std::string signed_part = head + "." + b64url(payload);
  const std::string mac = hs256(signed_part);
  filters::token_rules rules;  // no issuer, no audience: only form and times
  const std::int64_t skew = rules.skew.count();
  boost::json::object claims;
  const refusal good =
      filters::check_token(rules, fixed_keys(), signed_part + "." + b64url(mac), now, claims);

  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(payload, ec);
  const bool object = !ec && v.is_object();
  if (!object) {
    FUZZ_CHECK(good == refusal::malformed);
  } else {
    bool bad = false;
    const auto exp = filters::number_claim(v.get_object(), "exp", bad);
    const auto nbf = filters::number_claim(v.get_object(), "nbf", bad);
    if (bad)
      FUZZ_CHECK(good == refusal::malformed);
    else if (exp && now - skew > *exp)
      FUZZ_CHECK(good == refusal::expired);
    else if (nbf && now + skew < *nbf)
      FUZZ_CHECK(good == refusal::early);
    else
      FUZZ_CHECK(good == refusal::none && claims == v.get_object());
  }
  std::string forged = mac;
  forged[payload.size() % forged.size()] ^= 0x01;
  const refusal bad =
      filters::check_token(rules, fixed_keys(), signed_part + "." + b64url(forged), now, claims);
  FUZZ_CHECK(bad == (object ? refusal::signature : refusal::malformed));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      jwks(rest);
      break;
    case 1:
      token(rest);
      break;
    default:
      signed_payload(rest);
  }
  return 0;
}
