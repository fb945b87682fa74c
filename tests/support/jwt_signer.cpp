#include "jwt_signer.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <stdexcept>
#include <vector>

namespace gwtest {

std::string base64url(std::string_view data) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned v = 0;
  int bits = 0;
  for (unsigned char c : data) {
    v = (v << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += t[(v >> bits) & 63];
    }
  }
  if (bits) out += t[(v << (6 - bits)) & 63];
  return out;
}

namespace {
EVP_PKEY* key(void* p) {
  return static_cast<EVP_PKEY*>(p);
}
std::string bn_param(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}
const EVP_MD* md_for(const std::string& alg) {
  if (alg.ends_with("384")) return EVP_sha384();
  if (alg.ends_with("512")) return EVP_sha512();
  return EVP_sha256();
}
}  // namespace

signing_key::signing_key(std::string alg, std::string kid)
    : alg_(std::move(alg)), kid_(std::move(kid)) {
  if (alg_.starts_with("HS")) {
    secret_.resize(32);
    RAND_bytes(reinterpret_cast<unsigned char*>(secret_.data()), 32);
    return;
  }
  if (alg_.starts_with("RS") || alg_.starts_with("PS"))
    pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  else if (alg_ == "ES256")
    pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  else if (alg_ == "ES384")
    pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  else if (alg_ == "EdDSA")
    pkey_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!pkey_) throw std::runtime_error("cannot make a key for " + alg_);
}

signing_key::~signing_key() {
  EVP_PKEY_free(key(pkey_));
}

std::string signing_key::jwk() const {
  std::string head = "{\"kid\":\"" + kid_ + "\",\"alg\":\"" + alg_ + "\",\"use\":\"sig\",";
  if (alg_.starts_with("HS")) return head + "\"kty\":\"oct\",\"k\":\"" + base64url(secret_) + "\"}";
  EVP_PKEY* k = key(pkey_);
  if (alg_.starts_with("RS") || alg_.starts_with("PS"))
    return head + "\"kty\":\"RSA\",\"n\":\"" + base64url(bn_param(k, OSSL_PKEY_PARAM_RSA_N)) +
           "\",\"e\":\"" + base64url(bn_param(k, OSSL_PKEY_PARAM_RSA_E)) + "\"}";
  if (alg_ == "EdDSA") {
    unsigned char raw[32];
    size_t n = sizeof raw;
    EVP_PKEY_get_raw_public_key(k, raw, &n);
    return head + "\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" +
           base64url({reinterpret_cast<char*>(raw), n}) + "\"}";
  }
  unsigned char point[133];
  size_t n = 0;
  EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &n);
  const size_t half = (n - 1) / 2;
  std::string x(reinterpret_cast<char*>(point) + 1, half),
      y(reinterpret_cast<char*>(point) + 1 + half, half);
  return head + "\"kty\":\"EC\",\"crv\":\"" + (alg_ == "ES256" ? "P-256" : "P-384") +
         "\",\"x\":\"" + base64url(x) + "\",\"y\":\"" + base64url(y) + "\"}";
}

std::string signing_key::sign(const std::string& payload_json,
                              const std::string& alg_override) const {
  const std::string header = "{\"alg\":\"" + (alg_override.empty() ? alg_ : alg_override) +
                             "\",\"kid\":\"" + kid_ + "\",\"typ\":\"JWT\"}";
  const std::string input = base64url(header) + "." + base64url(payload_json);
  std::string sig;
  if (alg_.starts_with("HS")) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(md_for(alg_), secret_.data(), static_cast<int>(secret_.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &n);
    sig.assign(reinterpret_cast<char*>(mac), n);
  } else {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, alg_ == "EdDSA" ? nullptr : md_for(alg_), nullptr, key(pkey_));
    if (alg_.starts_with("PS")) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    size_t n = 0;
    EVP_DigestSign(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::vector<unsigned char> out(n);
    EVP_DigestSign(ctx, out.data(), &n, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    EVP_MD_CTX_free(ctx);
    sig.assign(reinterpret_cast<char*>(out.data()), n);
    if (alg_.starts_with("ES")) {  // DER to JOSE's fixed-width r||s
      const unsigned char* p = out.data();
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(n));
      const int width = alg_ == "ES256" ? 32 : 48;
      std::string rs(static_cast<std::size_t>(2 * width), '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(rs.data()), width);
      BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(rs.data()) + width,
                   width);
      ECDSA_SIG_free(es);
      sig = rs;
    }
  }
  return input + "." + base64url(sig);
}

}  // namespace gwtest
