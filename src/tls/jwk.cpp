#include "tls/jwk.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "tls/digest.hpp"

namespace gateway::tls {

struct jwk::impl {
  EVP_PKEY* pkey = nullptr;  // owned
  std::string secret;        // oct keys
  int ec_bytes = 0;          // size of r and s in an ES signature
  ~impl() { EVP_PKEY_free(pkey); }
};

namespace {

[[noreturn]] void bad(std::size_t index, const std::string& why) {
  throw error(errc::invalid_config, fmt::format("JWKS key {}: {}", index, why));
}

std::string member(const boost::json::object& o, std::string_view name, std::size_t index,
                   bool required) {
  const boost::json::value* v = o.if_contains(name);
  if (!v) {
    if (required) bad(index, "missing \"" + std::string(name) + "\"");
    return {};
  }
  if (!v->is_string()) bad(index, "\"" + std::string(name) + "\" must be a string");
  return std::string(v->get_string());
}

std::string b64url(const boost::json::object& o, std::string_view name, std::size_t index) {
  auto d = base64_decode(member(o, name, index, true));
  if (!d || d->empty()) bad(index, "\"" + std::string(name) + "\" is not base64url");
  return *d;
}

const EVP_MD* digest_for(std::string_view alg) {
  std::string_view bits = alg.size() >= 3 ? alg.substr(alg.size() - 3) : "";
  if (bits == "256") return EVP_sha256();
  if (bits == "384") return EVP_sha384();
  if (bits == "512") return EVP_sha512();
  return nullptr;
}

EVP_PKEY* from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  if (ctx && params && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

std::shared_ptr<jwk::impl> rsa_key(const boost::json::object& o, std::size_t index) {
  std::string n = b64url(o, "n", index), e = b64url(o, "e", index);
  if (n.size() < 256) bad(index, "RSA keys shorter than 2048 bits are refused");
  BIGNUM* bn_n =
      BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), int(n.size()), nullptr);
  BIGNUM* bn_e =
      BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), int(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
  auto k = std::make_shared<jwk::impl>();
  k->pkey = from_params("RSA", bld);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  if (!k->pkey) bad(index, "not a usable RSA public key");
  return k;
}

std::shared_ptr<jwk::impl> ec_key(const boost::json::object& o, std::size_t index) {
  const std::string crv = member(o, "crv", index, true);
  const char* group = crv == "P-256"   ? "prime256v1"
                      : crv == "P-384" ? "secp384r1"
                      : crv == "P-521" ? "secp521r1"
                                       : nullptr;
  if (!group) bad(index, "EC curve '" + crv + "' is not supported (P-256, P-384, P-521)");
  const int bytes = crv == "P-256" ? 32 : crv == "P-384" ? 48 : 66;
  std::string x = b64url(o, "x", index), y = b64url(o, "y", index);
  if (int(x.size()) != bytes || int(y.size()) != bytes) bad(index, "x and y do not fit " + crv);
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  auto k = std::make_shared<jwk::impl>();
  k->pkey = from_params("EC", bld);
  k->ec_bytes = bytes;
  OSSL_PARAM_BLD_free(bld);
  if (!k->pkey) bad(index, "not a point on " + crv);
  return k;
}

std::shared_ptr<jwk::impl> okp_key(const boost::json::object& o, std::size_t index) {
  if (member(o, "crv", index, true) != "Ed25519")
    bad(index, "only the Ed25519 OKP curve is supported");
  std::string x = b64url(o, "x", index);
  auto k = std::make_shared<jwk::impl>();
  k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                        reinterpret_cast<const unsigned char*>(x.data()), x.size());
  if (!k->pkey) bad(index, "not an Ed25519 public key");
  return k;
}

// JOSE's ECDSA signature is r||s, fixed width; OpenSSL wants DER.
std::string ecdsa_der(std::string_view rs, int bytes) {
  if (int(rs.size()) != 2 * bytes) return {};
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()), bytes, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(rs.data()) + bytes, bytes, nullptr);
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig, &der);
  std::string out = n > 0 ? std::string(reinterpret_cast<char*>(der), std::size_t(n)) : "";
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

}  // namespace

bool jwk::suits(std::string_view a) const noexcept {
  if (!alg.empty() && alg != a) return false;
  if (kty == "RSA") return a.starts_with("RS") || a.starts_with("PS");
  if (kty == "EC") {
    if (!a.starts_with("ES") || !key) return false;
    const int bytes = key->ec_bytes;
    return (bytes == 32 && a == "ES256") || (bytes == 48 && a == "ES384") ||
           (bytes == 66 && a == "ES512");
  }
  if (kty == "OKP") return a == "EdDSA";
  if (kty == "oct") return a.starts_with("HS");
  return false;
}

bool jwk::verify(std::string_view a, std::string_view signed_part,
                 std::string_view signature) const noexcept {
  if (!key || !suits(a)) return false;
  const auto* data = reinterpret_cast<const unsigned char*>(signed_part.data());
  if (kty == "oct") {
    const EVP_MD* md = digest_for(a);
    if (!md) return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!HMAC(md, key->secret.data(), int(key->secret.size()), data, signed_part.size(), mac, &n))
      return false;
    return constant_time_equal({reinterpret_cast<const char*>(mac), n}, signature);
  }
  const EVP_MD* md = kty == "OKP" ? nullptr : digest_for(a);
  if (kty != "OKP" && !md) return false;
  std::string der;
  if (kty == "EC") {
    der = ecdsa_der(signature, key->ec_bytes);
    if (der.empty()) return false;
    signature = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key->pkey) == 1;
  if (ok && a.starts_with("PS")) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(), data, signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::vector<jwk> parse_jwks(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value doc = boost::json::parse(json, ec);
  if (ec) throw error(errc::invalid_config, fmt::format("JWKS: invalid JSON: {}", ec.message()));
  std::vector<const boost::json::value*> keys;
  if (doc.is_object() && doc.get_object().contains("keys")) {
    const boost::json::value& list = doc.get_object().at("keys");
    if (!list.is_array()) throw error(errc::invalid_config, "JWKS: \"keys\" must be a list");
    for (const auto& k : list.get_array())
      keys.push_back(&k);
  } else {
    keys.push_back(&doc);
  }
  std::vector<jwk> out;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!keys[i]->is_object()) bad(i, "must be an object");
    const boost::json::object& o = keys[i]->get_object();
    jwk k;
    k.kty = member(o, "kty", i, true);
    k.kid = member(o, "kid", i, false);
    k.alg = member(o, "alg", i, false);
    if (k.alg == "none") bad(i, "alg \"none\" is refused");
    const std::string use = member(o, "use", i, false);
    if (!use.empty() && use != "sig") continue;  // encryption keys do not verify tokens
    if (k.kty == "RSA") {
      k.key = rsa_key(o, i);
    } else if (k.kty == "EC") {
      k.key = ec_key(o, i);
    } else if (k.kty == "OKP") {
      k.key = okp_key(o, i);
    } else if (k.kty == "oct") {
      auto secret = std::make_shared<jwk::impl>();
      secret->secret = b64url(o, "k", i);
      if (secret->secret.size() < 32) bad(i, "HMAC secrets shorter than 256 bits are refused");
      k.key = std::move(secret);
    } else {
      bad(i, "kty '" + k.kty + "' is not supported (RSA, EC, OKP, oct)");
    }
    out.push_back(std::move(k));
  }
  if (out.empty()) throw error(errc::invalid_config, "JWKS has no signing keys");
  return out;
}

}  // namespace gateway::tls
