#pragma once
// JSON Web Keys and JWS signature checks (RFC 7517/7518, RFC 8037) through
// OpenSSL, for the JWT filter. Keys are parsed once, at configuration load.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gateway::tls {

// One verification key from a JWKS.
class jwk {
 public:
  std::string kid;  // may be empty
  std::string alg;  // the key's "alg" if given; a token must then use it
  std::string kty;  // RSA, EC, OKP or oct

  // True when `signature` signs `signed_part` with this key under `alg`
  // (RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, HS256/384/512).
  bool verify(std::string_view alg, std::string_view signed_part,
              std::string_view signature) const noexcept;
  // Whether this key can check tokens of `alg` at all.
  bool suits(std::string_view alg) const noexcept;

  struct impl;
  std::shared_ptr<const impl> key;  // OpenSSL's key, or the HMAC secret
};

// Parses a JWKS document ({"keys": [...]}) or a single JWK; throws
// gateway::error (invalid_config) saying which key is wrong and why.
std::vector<jwk> parse_jwks(std::string_view json);

}  // namespace gateway::tls
