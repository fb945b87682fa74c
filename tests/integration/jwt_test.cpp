// The JWT filter through the real gateway, with keys made by the test for
// every algorithm it accepts, and the tokens it must refuse.
#include <doctest/doctest.h>

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gateway_fixture.hpp"
#include "jwt_signer.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

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

// A SecurityPolicy on the HTTPRoute "app" with one provider "idp" whose
// remoteJWKS is `remote` (a YAML flow mapping).
std::string remote_jwks_policy(const std::string& remote) {
  return R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: jwt}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  jwt:
    providers:
    - name: idp
      remoteJWKS: )" +
         remote + "\n";
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
    fails_with("    providers: [{name: p, remoteJWKS: {uri: ftp://x/jwks}}]\n",
               "remoteJWKS.uri: must be an http:// or https:// URL");
    fails_with("    providers: [{name: p, remoteJWKS: {uri: 'https://x:99999/jwks'}}]\n",
               "remoteJWKS.uri: the URL's port is not a number from 1 to 65535");
    fails_with(
        "    providers: [{name: p, remoteJWKS: {uri: http://x/j, backendRefs: [{name: none, "
        "port: 80}]}}]\n",
        "Service default/none not found");
    fails_with(
        "    providers: [{name: p, remoteJWKS: {uri: http://1.2.3.4/j}, localJWKS: {inline: "
        "'{}'}}]\n",
        "not both");
    fails_with(
        "    providers: [{name: p, localJWKS: {type: File, file: /nonexistent/jwks.json}}]\n",
        "cannot read");
    fails_with(
        "    providers: [{name: p, localJWKS: {inline: '{\"kty\":\"RSA\",\"alg\":\"none\"}'}}]\n",
        "none");
  }
}

TEST_SUITE("jwt filter with a remote key set") {
  TEST_CASE("keys fetched from a Service, refetched when a token names a new key") {
    std::mutex lock;
    auto k1 = std::make_unique<signing_key>("ES256", "k1");
    auto k2 = std::make_unique<signing_key>("RS256", "k2");
    std::string served = "{\"keys\":[" + k1->jwk() + "]}";
    std::atomic<int> fetches{0};
    test_upstream idp([&](const received_request& r) {
      response_plan p;
      if (r.target != "/jwks") {
        p.status = 404;
        return p;
      }
      ++fetches;
      std::lock_guard g(lock);
      p.body = served;
      p.headers = {{"content-type", "application/json"}};
      return p;
    });
    test_upstream up;
    const std::string yaml =
        app_route_yaml(up.port()) + service_yaml("idp", idp.port()) +
        remote_jwks_policy(
            "{uri: http://idp.example/jwks, backendRefs: [{name: idp, port: 80}], "
            "cacheDuration: 1h}");
    running_gateway gw(load_on_loopback(yaml));
    const std::string claims_now = claims("", "", now_s() + 600);
    CHECK(get(gw.port(), "/", bearer(k1->sign(claims_now))).status == 200);
    CHECK(fetches == 1);
    {
      std::lock_guard g(lock);
      served = "{\"keys\":[" + k2->jwk() + "]}";
    }
    // k2 is unknown until the key set is fetched again, which the unknown kid
    // asks for (at most every 2 s).
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline &&
           (status = get(gw.port(), "/", bearer(k2->sign(claims_now))).status) != 200)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(status == 200);
    CHECK(fetches >= 2);
    CHECK(get(gw.port(), "/", bearer(k1->sign(claims_now))).status == 401);  // rotated out
  }

  TEST_CASE("keys fetched over HTTPS from a host name, verified against the system store") {
    // The identity provider: a plain upstream behind a second gateway that
    // terminates TLS with a certificate for "localhost" from the test CA,
    // which OpenSSL's default store takes from SSL_CERT_FILE.
    test_pki pki;
    pki.issue("idp", "localhost", "subjectAltName=DNS:localhost");
    pki.issue("other", "elsewhere.test", "subjectAltName=DNS:elsewhere.test");
    signing_key k("ES256", "k1");
    std::atomic<int> fetches{0};
    test_upstream idp([&](const received_request& r) {
      response_plan p;
      ++fetches;
      p.status = r.target == "/jwks" ? 200 : 404;
      p.body = "{\"keys\":[" + k.jwk() + "]}";
      return p;
    });
    auto front = [&](const std::string& cert) {
      return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: idp}\n"
             "spec:\n  gatewayClassName: gatewayd\n  listeners:\n  - {name: https, port: 443, "
             "protocol: HTTPS, tls: {mode: Terminate, certificateRefs: [{name: cert}]}}\n" +
             service_yaml("idp", idp.port()) +
             "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: "
             "idp}\nspec:\n  parentRefs: [{name: idp}]\n  rules:\n  - backendRefs: [{name: idp, "
             "port: 80}]\n" +
             tls_secret_yaml(pki, "cert", cert);
    };
    test_upstream up;
    auto protected_by = [&](std::uint16_t idp_port) {
      return app_route_yaml(up.port()) +
             remote_jwks_policy("{uri: \"https://localhost:" + std::to_string(idp_port) +
                                "/jwks\", timeout: 2s}");
    };
    const std::string token = bearer(k.sign(claims("", "", now_s() + 600)));
    REQUIRE(::setenv("SSL_CERT_FILE", pki.path("ca.crt").c_str(), 1) == 0);
    {
      running_gateway idp_front(load_on_loopback(front("idp")));
      running_gateway gw(
          load_on_loopback(protected_by(idp_front.server().port("default/idp/https"))));
      CHECK(get(gw.port(), "/", token).status == 200);
      CHECK(fetches == 1);
    }
    {  // a certificate for another name: no keys, every token refused
      running_gateway idp_front(load_on_loopback(front("other")));
      running_gateway gw(
          load_on_loopback(protected_by(idp_front.server().port("default/idp/https"))));
      const auto r = get(gw.port(), "/", token);
      CHECK(r.status == 401);
      CHECK(r.body == "JWT key set unavailable\n");
      CHECK(fetches == 1);  // the handshake failed: nothing was asked
    }
    ::unsetenv("SSL_CERT_FILE");
  }

  TEST_CASE("an identity provider that cannot be reached: 401, and the gateway keeps serving") {
    test_upstream up;
    const std::string yaml = app_route_yaml(up.port()) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: jwt}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
  jwt:
    providers:
    - name: idp
      remoteJWKS: {uri: "http://127.0.0.1:1/jwks", timeout: 500ms}
)";
    running_gateway gw(load_on_loopback(yaml));
    signing_key k("ES256", "k");
    auto r = get(gw.port(), "/", bearer(k.sign(claims("", "", now_s() + 600))));
    CHECK(r.status == 401);  // an answer, within the client's deadline: the fetch failure ended it
    CHECK(r.body == "JWT key set unavailable\n");
    CHECK(get(gw.port(), "/", "").status == 401);  // no token: still refused, still answering
  }
}
