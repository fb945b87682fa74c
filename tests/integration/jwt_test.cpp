// The JWT filter through the real gateway, with keys made by the test for
// every algorithm it accepts, and the tokens it must refuse.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "gateway_fixture.hpp"
#include "jwt_signer.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string claims(const std::string& iss, const std::string& aud, std::int64_t exp,
                   std::int64_t nbf = 0, const std::string& sub = "user-7") {
  std::string c = "{\"iss\":\"" + iss + "\",\"aud\":\"" + aud + "\",\"sub\":\"" + sub +
                  "\",\"exp\":" + std::to_string(exp) + ",\"org\":{\"id\":42}";
  if (nbf) c += ",\"nbf\":" + std::to_string(nbf);
  return c + "}";
}

client_response get(std::uint16_t port, const std::string& target, const std::string& extra) {
  return request(
      port, "GET " + target + " HTTP/1.1\r\nhost: a\r\n" + extra + "connection: close\r\n\r\n");
}

std::string bearer(const std::string& token) {
  return "authorization: Bearer " + token + "\r\n";
}

}  // namespace

TEST_SUITE("jwt filter") {
  TEST_CASE("every accepted algorithm, and every way a token is refused") {
    std::vector<std::unique_ptr<signing_key>> keys;
    for (const char* alg : {"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "HS256"})
      keys.push_back(std::make_unique<signing_key>(alg, std::string("k-") + alg));
    std::string jwks = "{\"keys\":[";
    for (std::size_t i = 0; i < keys.size(); ++i)
      jwks += (i ? "," : "") + keys[i]->jwk();
    jwks += "]}";

    test_upstream up;
    const std::string yaml = app_route_yaml(up.port()) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: jwt}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  jwt:
    providers:
    - name: test
      issuer: https://issuer.example
      audiences: [api]
      clockSkew: 5s
      localJWKS:
        type: Inline
        inline: ')" + jwks + R"('
      claimToHeaders: [{header: x-sub, claim: sub}, {header: x-org, claim: org.id}]
      extractFrom:
        headers: [{name: authorization, valuePrefix: "Bearer "}]
        params: [access_token]
        cookies: [session]
)";
    running_gateway gw(load_on_loopback(yaml));
    const std::string good = claims("https://issuer.example", "api", now_s() + 600);

    for (const auto& k : keys) {
      auto r = get(gw.port(), "/", bearer(k->sign(good)));
      CHECK_MESSAGE(r.status == 200, k->alg());
      CHECK(up.last().header("x-sub") == "user-7");
      CHECK(up.last().header("x-org") == "42");
    }
    const signing_key& rs = *keys.front();
    CHECK(get(gw.port(), "/?access_token=" + rs.sign(good), "").status == 200);
    CHECK(get(gw.port(), "/", "cookie: a=b; session=" + rs.sign(good) + "\r\n").status == 200);

    auto refused = [&](const std::string& token, const std::string& why) {
      auto r = get(gw.port(), "/", bearer(token));
      CHECK_MESSAGE(r.status == 401, why);
      CHECK_MESSAGE(r.body.find(why) != std::string::npos, r.body);
      CHECK(r.header("www-authenticate").find("Bearer") == 0);
      CHECK(r.body.find("BEGIN") == std::string::npos);
    };
    refused(rs.sign(claims("https://issuer.example", "api", now_s() - 60)), "expired");
    refused(rs.sign(claims("https://issuer.example", "api", now_s() + 600, now_s() + 300)),
            "not yet valid");
    refused(rs.sign(claims("https://issuer.example", "web", now_s() + 600)), "audience");
    refused(rs.sign(claims("https://evil.example", "api", now_s() + 600)), "issuer");
    // The payload swapped for another (a different sub) under the original signature.
    std::string token = rs.sign(good);
    std::size_t dot1 = token.find('.'), dot2 = token.rfind('.');
    std::string tampered =
        token.substr(0, dot1 + 1) +
        base64url(claims("https://issuer.example", "api", now_s() + 600, 0, "admin")) +
        token.substr(dot2);
    refused(tampered, "signature");
    std::string none =
        base64url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + base64url(good) + ".";
    refused(none, "algorithm");
    // An RSA-signed token relabelled HS256 (the key confusion attack) has no key.
    refused(rs.sign(good, "HS256"), "key not known");
    refused("not.a-token", "malformed");
    signing_key stranger("ES256", "k-ES256");  // same kid, other key
    refused(stranger.sign(good), "signature");
    auto missing = get(gw.port(), "/", "");
    CHECK(missing.status == 401);
    CHECK(missing.header("www-authenticate") == "Bearer");
  }

  TEST_CASE("configuration mistakes are errors naming the field") {
    auto fails_with = [](const std::string& jwt, const std::string& needle) {
      const std::string yaml = gateway_yaml + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: jwt}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
  jwt:
)" + jwt;
      try {
        gateway::load_yaml(yaml, "t.yaml");
        FAIL("loaded");
      } catch (const gateway::error& e) {
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
      }
    };
    fails_with(
        "    providers: [{name: p, localJWKS: {type: Inline, inline: "
        "'{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}'}}]\n",
        "shorter than 256 bits");
    fails_with(
        "    providers: [{name: p, remoteJWKS: {uri: https://x/jwks}, localJWKS: {inline: "
        "'{}'}}]\n",
        "remoteJWKS");
    fails_with(
        "    providers: [{name: p, localJWKS: {type: File, file: /nonexistent/jwks.json}}]\n",
        "cannot read");
    fails_with(
        "    providers: [{name: p, localJWKS: {inline: '{\"kty\":\"RSA\",\"alg\":\"none\"}'}}]\n",
        "none");
  }
}
