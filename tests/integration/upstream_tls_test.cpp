// TLS to upstreams against a real OpenSSL server, with certificates the test
// makes at run time.
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

gateway::gateway_config tls_config(const test_pki& pki, std::uint16_t port,
                                   const std::string& sni = "upstream.test") {
  auto cfg = proxy_config({port});
  auto& t = cfg.clusters[0].tls;
  t.enabled = true;
  t.ca_pem = pki.read("ca.crt");
  t.sni = sni;
  return cfg;
}

const std::string get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

std::string load_error(const gateway::gateway_config& cfg) {
  try {
    gateway::server s(cfg, {});
  } catch (const gateway::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("upstream tls") {
  TEST_CASE("an HTTPS upstream signed by the configured CA is verified and used") {
    test_pki pki;
    test_tls_upstream up(pki);
    captured_log log;
    auto gw = start_logged(tls_config(pki, up.port()), log);
    auto r = request(gw->port(), get);
    CHECK(r.status == 200);
    CHECK(r.body == "tls ok, client none");
    CHECK(up.last_sni() == "upstream.test");
    // Keep-alive works through TLS: one handshake for many requests.
    test_client c(gw->port());
    for (int i = 0; i < 10; ++i) {
      REQUIRE(c.send(get));
      CHECK(c.read_response().status == 200);
    }
    CHECK(up.handshakes() <= 2);
  }

  TEST_CASE("an endpoint given by IP is checked against the certificate's IP") {
    test_pki pki;
    test_tls_upstream up(pki);
    captured_log log;
    auto gw = start_logged(tls_config(pki, up.port(), ""), log);
    CHECK(request(gw->port(), get).status == 200);
    CHECK(up.last_sni().empty());  // no SNI for an IP
  }

  TEST_CASE("a wrong CA fails the handshake: 503 and a log line that says why") {
    test_pki pki;
    test_tls_upstream up(pki);
    auto cfg = tls_config(pki, up.port());
    cfg.clusters[0].tls.ca_pem = pki.read("other-ca.crt");
    captured_log log;
    auto gw = start_logged(cfg, log);
    auto r = request(gw->port(), get);
    CHECK(r.status == 503);
    CHECK(
        log.has("TLS handshake failed: certificate verify failed: unable to get local issuer "
                "certificate"));
    CHECK(up.requests() == 0);
  }

  TEST_CASE("a certificate for another name fails: 503 and a hostname mismatch in the log") {
    test_pki pki;
    test_tls_upstream up(pki);
    captured_log log;
    auto gw = start_logged(tls_config(pki, up.port(), "elsewhere.test"), log);
    CHECK(request(gw->port(), get).status == 503);
    CHECK(log.has("certificate verify failed: hostname mismatch"));
    CHECK(up.requests() == 0);
  }

  TEST_CASE("mTLS: an upstream that requires a client certificate gets the gateway's") {
    test_pki pki;
    test_tls_upstream up(pki, true);
    auto cfg = tls_config(pki, up.port());
    SUBCASE("with the client certificate") {
      cfg.clusters[0].tls.client_cert_pem = pki.read("client.crt");
      cfg.clusters[0].tls.client_key_pem = pki.read("client.key");
      captured_log log;
      auto gw = start_logged(cfg, log);
      auto r = request(gw->port(), get);
      CHECK(r.status == 200);
      CHECK(r.body == "tls ok, client /CN=gateway-client");
    }
    SUBCASE("without one the upstream refuses") {
      captured_log log;
      auto gw = start_logged(cfg, log);
      const int status = request(gw->port(), get).status;
      CHECK((status == 502 || status == 503));  // TLS 1.3 refuses after the client's finish
      CHECK(up.requests() == 0);
    }
  }

  TEST_CASE("sessions are resumed across the pooled connections to an endpoint") {
    test_pki pki;
    test_tls_upstream up(pki);
    auto cfg = tls_config(pki, up.port());
    cfg.clusters[0].max_requests_per_connection = 1;  // a new connection per request
    captured_log log;
    auto gw = start_logged(cfg, log);
    for (int i = 0; i < 5; ++i)
      CHECK(request(gw->port(), get).status == 200);
    CHECK(up.handshakes() == 5);
    CHECK(up.resumed() == 4);  // every one after the first
  }

  TEST_CASE("health checks of a TLS cluster go through TLS") {
    test_pki pki;
    test_tls_upstream up(pki);
    auto cfg = tls_config(pki, up.port());
    auto& hc = cfg.clusters[0].health_check;
    hc.type = gateway::health_check_type::http;
    hc.path = "/healthz";
    hc.interval = std::chrono::milliseconds(50);
    hc.unhealthy_threshold = 1;
    captured_log log;
    auto gw = start_logged(cfg, log);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (up.requests() < 3 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    CHECK(up.requests() >= 3);
    CHECK(up.failed_handshakes() == 0);
    CHECK(gw->stats_text().find(
              "gateway_upstream_endpoint_healthy{cluster=\"up\",endpoint=\"127.0.0.1:" +
              std::to_string(up.port()) + "\"} 1") != std::string::npos);
  }

  TEST_CASE("a request mirrored to a TLS cluster goes through its TLS") {
    test_pki pki;
    test_tls_upstream mirror(pki);
    test_upstream primary;
    auto cfg = proxy_config({primary.port()});
    auto tls = tls_config(pki, mirror.port());
    tls.clusters[0].name = "mirror";
    cfg.clusters.push_back(tls.clusters[0]);
    cfg.listeners[0].routes[0].rules[0].mirrors.push_back({"mirror", 1, 1});
    captured_log log;
    auto gw = start_logged(cfg, log);
    for (int i = 0; i < 3; ++i)
      CHECK(request(gw->port(), get).status == 200);
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (mirror.requests() < 3 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    CHECK(mirror.requests() == 3);
    CHECK(mirror.failed_handshakes() == 0);
    CHECK(mirror.last_sni() == "upstream.test");
    CHECK(eventually([&] {
      return gw->stats_text().find("gateway_mirror_requests_total{result=\"sent\"} 3") !=
             std::string::npos;
    }));
  }

  TEST_CASE("broken TLS settings are config errors that say what is wrong") {
    test_pki pki;
    auto cfg = tls_config(pki, 1);
    cfg.clusters[0].tls.ca_pem = "not a certificate";
    CHECK(load_error(cfg).find("TLS CA bundle holds no PEM certificate") != std::string::npos);
    cfg = tls_config(pki, 1);
    cfg.clusters[0].tls.client_cert_pem = pki.read("client.crt");
    cfg.clusters[0].tls.client_key_pem = pki.read("server.key");
    CHECK(load_error(cfg).find("TLS client key does not match its certificate") !=
          std::string::npos);
    cfg = tls_config(pki, 1);
    cfg.clusters[0].tls.ca_pem.clear();
    CHECK(load_error(cfg).find("needs CA certificates") != std::string::npos);
    cfg = tls_config(pki, 1);
    cfg.clusters[0].tls.min_version = "1.0";
    CHECK(load_error(cfg).find("TLS minimum version '1.0'") != std::string::npos);
  }

  TEST_CASE("YAML: a BackendTLSPolicy with a ConfigMap CA and a client certificate Secret") {
    test_pki pki;
    test_tls_upstream up(pki, true);
    auto indent = [](const std::string& pem) {
      std::string out;
      std::size_t at = 0;
      while (at < pem.size()) {
        auto nl = pem.find('\n', at);
        out += "    " + pem.substr(at, nl - at) + "\n";
        at = nl == std::string::npos ? pem.size() : nl + 1;
      }
      return out;
    };
    const std::string yaml = app_route_yaml(up.port()) + R"(---
apiVersion: v1
kind: ConfigMap
metadata: {name: upstream-ca}
data:
  ca.crt: |
)" + indent(pki.read("ca.crt")) +
                             R"(---
apiVersion: v1
kind: Secret
metadata: {name: gateway-client}
type: kubernetes.io/tls
stringData:
  tls.crt: |
)" + indent(pki.read("client.crt")) +
                             R"(  tls.key: |
)" + indent(pki.read("client.key")) +
                             R"(---
apiVersion: gateway.networking.k8s.io/v1alpha3
kind: BackendTLSPolicy
metadata: {name: app-tls}
spec:
  targetRefs: [{group: "", kind: Service, name: app}]
  validation:
    caCertificateRefs: [{group: "", kind: ConfigMap, name: upstream-ca}]
    hostname: upstream.test
  options:
    gateway.dev/client-certificate: gateway-client
)";
    auto cfg = load_on_loopback(yaml);
    REQUIRE(cfg.clusters.size() == 1);
    CHECK(cfg.clusters[0].tls.enabled);
    captured_log log;
    auto gw = start_logged(cfg, log);
    auto r = request(gw->port(), get);
    CHECK(r.status == 200);
    CHECK(r.body == "tls ok, client /CN=gateway-client");
    CHECK(up.last_sni() == "upstream.test");
    // A reference to a ConfigMap that is not there is an error at load.
    std::string missing = yaml;
    missing.replace(missing.find("name: upstream-ca}]"), 19, "name: nowhere}]");
    std::string why;
    try {
      gateway::load_yaml(missing, "t.yaml");
    } catch (const gateway::error& e) {
      why = e.what();
    }
    CHECK(why.find("ConfigMap default/nowhere not found") != std::string::npos);
  }
}
