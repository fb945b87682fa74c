#pragma once
// Keys made at test time and tokens signed with them, for the JWT filter's
// tests (OpenSSL, independent of the gateway's own JWT code).
#include <memory>
#include <string>
#include <string_view>

namespace gwtest {

std::string base64url(std::string_view data);

class signing_key {
 public:
  // A fresh key for `alg` (RS256/384/512, PS256, ES256, ES384, EdDSA, HS256).
  signing_key(std::string alg, std::string kid);
  ~signing_key();
  signing_key(const signing_key&) = delete;
  signing_key& operator=(const signing_key&) = delete;

  const std::string& alg() const { return alg_; }
  // The public JWK (the secret itself for HS256), as JSON.
  std::string jwk() const;
  // A compact JWS of `payload_json` with header {"alg", "kid", "typ": "JWT"};
  // `alg_override` puts another alg in the header (the signature is still ours).
  std::string sign(const std::string& payload_json, const std::string& alg_override = "") const;

 private:
  std::string alg_, kid_;
  void* pkey_ = nullptr;  // EVP_PKEY
  std::string secret_;
};

}  // namespace gwtest
