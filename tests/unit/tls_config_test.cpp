// How HTTPS listeners are read: Gateway tls, ClientTrafficPolicy tls and
// headers, Secrets (inline and by file), Ingress tls.
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <doctest/doctest.h>

#include "test_tls.hpp"

using namespace gateway;

namespace {

const std::string gateway_doc = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: https
    port: 443
    protocol: HTTPS
    tls: {mode: Terminate, certificateRefs: [{name: site}]}
)";

const listener_config& listener(const gateway_config& cfg, const std::string& name) {
  for (const auto& l : cfg.listeners)
    if (l.name == name) return l;
  FAIL("no listener " << name);
  return cfg.listeners.front();
}

}  // namespace

TEST_SUITE("tls config") {
  TEST_CASE("a ClientTrafficPolicy's tls and headers fill the listener's settings") {
    gwtest::test_pki pki;
    auto cfg = load_yaml(gateway_doc + gwtest::tls_secret_yaml(pki, "site", "server") +
                             gwtest::ca_config_map_yaml(pki, "client-ca") + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: {name: gateway-wide}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
  clientIPDetection: {xForwardedFor: {numTrustedHops: 1}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: {name: https-only}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web, sectionName: https}]
  tls:
    minVersion: "1.3"
    maxVersion: Auto
    ciphers: [TLS_AES_128_GCM_SHA256]
    ecdhCurves: [X25519]
    signatureAlgorithms: [ECDSA+SHA256]
    alpnProtocols: [http/1.1, http/1.0]
    session: {resumption: {stateless: {}}}
    handshakeTimeout: 2s
    maxPendingHandshakes: 10
    clientValidation:
      optional: true
      caCertificateRefs: [{kind: ConfigMap, name: client-ca}]
      certificateHashes: ["AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB"]
  headers:
    xForwardedClientCert: {mode: AppendForward, certDetailsToAdd: [Subject, Chain, DNS]}
)",
                         "t.yaml");
    // The gateway-wide policy gives the HTTP listener its trusted hops; the
    // listener's own policy wins whole on the HTTPS one.
    CHECK(listener(cfg, "default/web/http").xff_trusted_hops == 1);
    CHECK_FALSE(listener(cfg, "default/web/http").tls);
    const listener_config& l = listener(cfg, "default/web/https");
    CHECK(l.xff_trusted_hops == 0);
    REQUIRE(l.tls);
    const listener_tls_config& t = *l.tls;
    REQUIRE(t.certificates.size() == 1);
    CHECK(t.certificates[0].source == "Secret default/site");
    CHECK(t.certificates[0].cert_pem == pki.read("server.crt"));
    CHECK(t.min_version == "1.3");
    CHECK(t.max_version == "1.3");
    CHECK(t.ciphers == std::vector<std::string>{"TLS_AES_128_GCM_SHA256"});
    CHECK(t.groups == std::vector<std::string>{"X25519"});
    CHECK(t.signature_algorithms == std::vector<std::string>{"ECDSA+SHA256"});
    CHECK(t.alpn == std::vector<std::string>{"http/1.1", "http/1.0"});
    CHECK(t.session_tickets);
    CHECK_FALSE(t.session_cache);
    CHECK(t.handshake_timeout == std::chrono::seconds(2));
    CHECK(t.max_pending_handshakes == 10);
    REQUIRE(t.client_validation);
    CHECK(t.client_validation->optional);
    CHECK(t.client_validation->ca_pem == pki.read("ca.crt"));
    const client_cert_forwarding& f = l.forward_client_cert;
    CHECK(f.how == client_cert_forwarding::mode::append_forward);
    CHECK((f.subject && f.chain && f.dns && !f.cert && !f.uri));
    CHECK(t.client_validation->certificate_hashes.size() == 1);
    // A bad pin is found when the config is compiled.
    cfg.listeners[1].tls->client_validation->certificate_hashes = {"AB:cd"};
    std::string why;
    try {
      validate(cfg);
    } catch (const error& e) {
      why = e.what();
    }
    CHECK(why.find("certificate hash 'AB:cd' is not a SHA-256 in hex") != std::string::npos);
    // The JSON dump names the certificate's source, never key material.
    const std::string json = to_json(cfg);
    CHECK(json.find("Secret default/site") != std::string::npos);
    CHECK(json.find("PRIVATE KEY") == std::string::npos);
    CHECK(json.find("BEGIN CERTIFICATE") == std::string::npos);
  }

  TEST_CASE("listener tls fields are checked where they are written") {
    auto error_of = [](const std::string& yaml) {
      try {
        load_yaml(yaml, "t.yaml");
      } catch (const error& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    auto gw = [](const std::string& listener) {
      return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web}\n"
             "spec:\n  gatewayClassName: any\n  listeners:\n  - " +
             listener + "\n";
    };
    CHECK(error_of(gw("{name: a, port: 443, protocol: HTTPS, tls: {mode: Passthrough, "
                      "certificateRefs: [{name: s}]}}"))
              .find("t.yaml:7: document 1 (Gateway default/web): spec.listeners[0].tls.mode: "
                    "mode Passthrough needs protocol TLS") != std::string::npos);
    CHECK(error_of(gw("{name: a, port: 443, protocol: HTTPS, tls: {certificateRefs: []}}"))
              .find("an HTTPS listener needs at least one certificate") != std::string::npos);
    CHECK(error_of(gw("{name: a, port: 443, protocol: HTTPS, tls: {certificateRefs: [{kind: "
                      "ConfigMap, name: s}]}}"))
              .find("a certificateRef is a core Secret") != std::string::npos);
    CHECK(error_of(gw("{name: a, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: s, "
                      "namespace: other}]}}"))
              .find("no ReferenceGrant there allows Gateways") != std::string::npos);
    CHECK(error_of(gw("{name: a, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: s}], "
                      "options: {x: y}}}"))
              .find("spec.listeners[0].tls.options") != std::string::npos);
    CHECK(
        error_of(gw("{name: a, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: s}]}}") +
                 "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {x: y}\n")
            .find("Secret default/s needs tls.crt and tls.key") != std::string::npos);
    CHECK(error_of(gw("{name: a, port: 80, protocol: HTTP}") +
                   "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
                   "metadata: {name: p}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
                   "kind: Gateway, name: web}]\n  headers: {xForwardedClientCert: {mode: Sanitize, "
                   "certDetailsToAdd: [Subject]}}\n")
              .find("only used with mode AppendForward or SanitizeSet") != std::string::npos);
  }

  TEST_CASE("an Ingress with tls gets an HTTPS listener and its HTTP hosts redirect there") {
    gwtest::test_pki pki;
    auto cfg = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  tls: [{hosts: [shop.test], secretName: shop-cert}]
  rules:
  - host: shop.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
  - host: plain.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {ports: [{name: http, port: 80}]}
)" + gwtest::tls_secret_yaml(pki, "shop-cert", "server"),
                         "t.yaml");
    const listener_config& http = listener(cfg, "ingress/none/http");
    const listener_config& https = listener(cfg, "ingress/none/https");
    CHECK(https.port == 443);
    REQUIRE(https.tls);
    CHECK(https.tls->certificates.size() == 1);
    REQUIRE(http.routes.size() == 2);
    REQUIRE(https.routes.size() == 2);
    // shop.test: redirected on HTTP, served on HTTPS; plain.test: served on both.
    CHECK(http.routes[0].rules[0].redirect);
    CHECK(http.routes[0].rules[0].redirect->scheme == "https");
    CHECK(http.routes[0].rules[0].redirect->status_code == 308);
    CHECK_FALSE(https.routes[0].rules[0].redirect);
    CHECK(https.routes[0].rules[0].backends.size() == 1);
    CHECK_FALSE(http.routes[1].rules[0].redirect);
    CHECK_FALSE(https.routes[1].rules[0].redirect);
  }
}
