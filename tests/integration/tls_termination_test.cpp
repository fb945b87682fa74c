// HTTPS listeners against a real TLS client (OpenSSL), with certificates the
// test makes at run time: SNI, versions, ALPN, resumption, mTLS, reload,
// handshake limits, OCSP stapling and redirects to HTTPS.
#include <gateway/asio.hpp>
#include <gateway/error.hpp>

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <thread>

#include <doctest/doctest.h>

#include <openssl/ssl.h>

#include "gateway_fixture.hpp"
#include "host_loop.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

// A Gateway "web" whose listeners are `listeners` (YAML flow items), an
// upstream Service "app" and an HTTPRoute sending everything there.
std::string https_gateway(const std::string& listeners, std::uint16_t upstream) {
  return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web}\n"
         "spec:\n  gatewayClassName: any\n  listeners:\n" +
         listeners + service_yaml("app", upstream) +
         "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: app}\n"
         "spec:\n  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: app, port: "
         "80}]\n";
}

// One HTTPS listener "https" on 443 with the Secrets `secrets`.
std::string https_listener(const std::string& secrets, const std::string& name = "https",
                           const std::string& hostname = "") {
  std::string refs;
  std::size_t at = 0;
  while (at <= secrets.size()) {
    std::size_t end = secrets.find(',', at);
    if (end == std::string::npos) end = secrets.size();
    refs +=
        (refs.empty() ? "" : ", ") + std::string("{name: ") + secrets.substr(at, end - at) + "}";
    at = end + 1;
  }
  return "  - name: " + name + "\n    port: 443\n    protocol: HTTPS\n" +
         (hostname.empty() ? "" : "    hostname: \"" + hostname + "\"\n") +
         "    tls: {mode: Terminate, certificateRefs: [" + refs + "]}\n";
}

// A ClientTrafficPolicy on the Gateway (or one listener) with `spec_lines`.
std::string client_policy(const std::string& spec_lines, const std::string& section = "") {
  return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
         "metadata: {name: client" +
         section +
         "}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web" +
         (section.empty() ? "" : ", sectionName: " + section) + "}]\n" + spec_lines;
}

std::uint16_t https_port(running_gateway& gw, const std::string& listener = "https") {
  return gw.server().port("default/web/" + listener);
}

// A filter that tells the upstream what it saw of the connection.
struct tls_echo_filter : gateway::filter {
  gateway::filter_status on_request(gateway::filter_context& ctx) override {
    ctx.request_headers().set("x-seen-scheme", ctx.scheme());
    if (const gateway::tls_info* t = ctx.tls()) {
      ctx.request_headers().set("x-seen-version", t->version);
      ctx.request_headers().set("x-seen-sni", t->server_name);
      ctx.request_headers().set("x-seen-subject", t->peer_certificate ? t->subject : "none");
      if (!t->uris.empty()) ctx.request_headers().set("x-seen-uri", t->uris.front());
      if (t->peer_certificate) ctx.request_headers().set("x-seen-sha256", t->sha256);
    }
    return gateway::filter_status::next;
  }
};
struct tls_echo_factory : gateway::filter_factory {
  gateway::filter* create(gateway::filter_arena& arena) const override {
    return arena.make<tls_echo_filter>();
  }
  std::uint8_t hooks() const noexcept override { return gateway::hook_request; }
};
void add_tls_echo(gateway::gateway_config& cfg) {
  for (auto& l : cfg.listeners)
    l.filters.push_back({"tls-echo", std::make_shared<tls_echo_factory>()});
}

// Listeners of Gateway port 443 bound like load_on_loopback's each get a
// socket of their own; this gives them one, as port 443 would: the kernel's
// choice for the first, named for all in a reload that takes its sockets over.
void share_https_port(gateway::server& s, gateway::gateway_config cfg) {
  std::uint16_t port = 0;
  for (const auto& l : cfg.listeners)
    if (l.port == 443 && !port) port = s.port(l.name);
  for (auto& l : cfg.listeners)
    if (l.port == 443) l.bind_port = port;
  s.reload(cfg);
}

std::string load_error(const std::string& yaml) {
  try {
    auto cfg = gateway::load_yaml(yaml, "test.yaml");  // checked, never bound
    gateway::server s(cfg, {});
  } catch (const gateway::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("tls termination") {
  TEST_CASE("SNI picks the listener: exact name, wildcard, and the catch-all as default") {
    test_pki pki;
    pki.issue("exact", "a.example.com", "subjectAltName=DNS:a.example.com");
    pki.issue("wild", "*.wild.example.com", "subjectAltName=DNS:*.wild.example.com");
    pki.issue("fallback", "fallback.example.com", "subjectAltName=DNS:fallback.example.com");
    test_upstream up;
    auto cfg = load_on_loopback(
        https_gateway(https_listener("exact", "exact", "a.example.com") +
                          https_listener("wild", "wild", "*.wild.example.com") +
                          https_listener("fallback", "fallback"),
                      up.port()) +
        tls_secret_yaml(pki, "exact", "exact") + tls_secret_yaml(pki, "wild", "wild") +
        tls_secret_yaml(pki, "fallback", "fallback"));
    add_tls_echo(cfg);
    running_gateway gw(cfg);
    share_https_port(gw.server(), cfg);
    const std::uint16_t port = https_port(gw, "exact");
    CHECK(port == https_port(gw, "wild"));  // one socket for the port
    auto cn_for = [&](const std::string& sni) {
      tls_client c(port, {.sni = sni});
      return c.connected() ? c.server_cn() : "failed: " + c.error();
    };
    CHECK(cn_for("a.example.com") == "a.example.com");
    CHECK(cn_for("A.Example.COM") == "a.example.com");
    CHECK(cn_for("x.wild.example.com") == "*.wild.example.com");
    CHECK(cn_for("other.example.org") == "fallback.example.com");
    CHECK(cn_for("") == "fallback.example.com");
    // Requests flow, and the upstream and filters learn they came over TLS.
    tls_client c(port, {.sni = "a.example.com"});
    REQUIRE(c.connected());
    for (int i = 0; i < 3; ++i) {
      const std::string answer = c.exchange(get_request("a.example.com", "/x"));
      CHECK(answer.starts_with("HTTP/1.1 200"));
    }
    const auto seen = up.last();
    CHECK(seen.header("x-forwarded-proto") == "https");
    CHECK(seen.header("x-seen-scheme") == "https");
    CHECK(seen.header("x-seen-sni") == "a.example.com");
    CHECK(seen.header("x-seen-version") == "TLSv1.3");
    CHECK(seen.header("x-seen-subject") == "none");
    CHECK(metric(gw.server(), "gateway_tls_handshakes_total{result=\"ok\"}") >= 6);
  }

  TEST_CASE("within a listener the certificates' names decide, RSA and ECDSA side by side") {
    test_pki pki;
    pki.issue("default", "default.test", "subjectAltName=DNS:default.test");
    pki.issue("exact-rsa", "exact.test", "subjectAltName=DNS:exact.test", "rsa");
    pki.issue("exact-ec", "exact.test", "subjectAltName=DNS:exact.test");
    pki.issue("wild", "*.wild.test", "subjectAltName=DNS:*.wild.test");
    test_upstream up;
    running_gateway gw(load_on_loopback(
        https_gateway(https_listener("default,exact-rsa,exact-ec,wild"), up.port()) +
        tls_secret_yaml(pki, "default", "default") +
        tls_secret_yaml(pki, "exact-rsa", "exact-rsa") +
        tls_secret_yaml(pki, "exact-ec", "exact-ec") + tls_secret_yaml(pki, "wild", "wild")));
    const std::uint16_t port = https_port(gw);
    auto served = [&](const std::string& sni, const std::string& sigalgs = "") {
      tls_client c(port, {.sni = sni, .sigalgs = sigalgs});
      return c.connected() ? c.server_cn() + "/" + c.server_key_type() : "failed: " + c.error();
    };
    CHECK(served("exact.test", "rsa_pss_rsae_sha256:RSA+SHA256") == "exact.test/RSA");
    CHECK(served("exact.test", "ECDSA+SHA256") == "exact.test/EC");
    CHECK(served("a.wild.test") == "*.wild.test/EC");
    CHECK(served("deep.a.wild.test") == "default.test/EC");  // a wildcard covers one label
    CHECK(served("nothing.test") == "default.test/EC");
    CHECK(served("") == "default.test/EC");
    // TLS 1.2 with an RSA-only cipher suite gets the RSA certificate too.
    tls_client rsa12(port, {.sni = "exact.test",
                            .max_version = TLS1_2_VERSION,
                            .ciphers = "ECDHE-RSA-AES128-GCM-SHA256"});
    REQUIRE(rsa12.connected());
    CHECK(rsa12.server_key_type() == "RSA");
    CHECK(rsa12.exchange(get_request("exact.test")).starts_with("HTTP/1.1 200"));

    // Each certificate's expiry is a gauge (the test PKI issues them for 2 days).
    const auto now = static_cast<double>(std::time(nullptr));
    for (const char* cert : {"default.test\",key=\"EC", "exact.test\",key=\"RSA",
                             "exact.test\",key=\"EC", "*.wild.test\",key=\"EC"}) {
      CAPTURE(cert);
      const auto expires = static_cast<double>(
          metric(gw.server(),
                 "gateway_tls_certificate_expiry_timestamp_seconds{listener=\"default/"
                 "web/https\",name=\"" +
                     std::string(cert) + "\"}"));
      CHECK(expires > now + 2 * 86400 - 600);
      CHECK(expires <= now + 2 * 86400);
    }
  }

  TEST_CASE("TLS 1.1 and below are refused, 1.2 and 1.3 served, minVersion 1.3 refuses 1.2") {
    test_pki pki;
    test_upstream up;
    const std::string base =
        https_gateway(https_listener("cert"), up.port()) + tls_secret_yaml(pki, "cert", "server");
    running_gateway gw(load_on_loopback(base));
    const std::uint16_t port = https_port(gw);
    for (int v : {TLS1_VERSION, TLS1_1_VERSION}) {
      tls_client old(port, {.sni = "upstream.test", .max_version = v, .legacy = true});
      CHECK_FALSE(old.connected());
    }
    tls_client v12(port, {.sni = "upstream.test", .max_version = TLS1_2_VERSION});
    REQUIRE(v12.connected());
    CHECK(v12.version() == "TLSv1.2");
    CHECK(v12.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
    tls_client v13(port, {.sni = "upstream.test"});
    REQUIRE(v13.connected());
    CHECK(v13.version() == "TLSv1.3");
    CHECK(metric(gw.server(), "gateway_tls_handshakes_total{result=\"failed\"}") >= 2);

    running_gateway strict(
        load_on_loopback(base + client_policy("  tls: {minVersion: \"1.3\"}\n")));
    tls_client refused(https_port(strict), {.sni = "upstream.test", .max_version = TLS1_2_VERSION});
    CHECK_FALSE(refused.connected());
    tls_client fine(https_port(strict), {.sni = "upstream.test"});
    CHECK(fine.connected());
  }

  TEST_CASE("ALPN prefers h2, serves http/1.1 to who asks, and refuses other protocols") {
    test_pki pki;
    test_upstream up;
    const std::string base =
        https_gateway(https_listener("cert"), up.port()) + tls_secret_yaml(pki, "cert", "server");
    {
      running_gateway gw(load_on_loopback(base));
      const std::uint16_t port = https_port(gw);
      tls_client both(port, {.alpn = {"h2", "http/1.1"}});
      REQUIRE(both.connected());
      CHECK(both.alpn() == "h2");
      tls_client h1(port, {.alpn = {"http/1.1"}});
      REQUIRE(h1.connected());
      CHECK(h1.alpn() == "http/1.1");
      CHECK(h1.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
      tls_client none(port, {});
      REQUIRE(none.connected());
      CHECK(none.alpn().empty());
      CHECK(none.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
      tls_client other(port, {.alpn = {"spdy/3.1"}});
      CHECK_FALSE(other.connected());
    }
    // A listener that offers only http/1.1 refuses a client that speaks only h2.
    running_gateway gw(load_on_loopback(
        base +
        "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
        "metadata: {name: client}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
        "kind: Gateway, name: web}]\n  tls: {alpnProtocols: [http/1.1]}\n"));
    const std::uint16_t port = https_port(gw);
    tls_client both(port, {.alpn = {"h2", "http/1.1"}});
    REQUIRE(both.connected());
    CHECK(both.alpn() == "http/1.1");
    tls_client h2(port, {.alpn = {"h2"}});
    CHECK_FALSE(h2.connected());
  }

  TEST_CASE("an idle TLS connection gives its buffers back and serves its next requests") {
    test_pki pki;
    pki.issue("site", "a.example.com", "subjectAltName=DNS:a.example.com");
    test_upstream up;
    running_gateway gw(load_on_loopback(https_gateway(https_listener("site"), up.port()) +
                                        tls_secret_yaml(pki, "site", "site")));
    tls_client c(https_port(gw), {.sni = "a.example.com"});
    REQUIRE(c.connected());
    CHECK(c.exchange(get_request("a.example.com", "/1")).find("GET /1 0") != std::string::npos);
    // It waits without its input block, stream or record buffers; its TLS
    // session stays, and the next records still read right.
    CHECK(eventually(
        [&] { return metric(gw.server(), "gateway_buffer_bytes{side=\"client\"}") == 0; }));
    const std::string path =
        "/" + std::string(3000, 'y');  // over the 512 bytes a waiting read takes
    CHECK(c.exchange(get_request("a.example.com", path)).find("GET " + path + " 0") !=
          std::string::npos);
    CHECK(c.exchange(get_request("a.example.com", "/3")).find("GET /3 0") != std::string::npos);
    CHECK(up.requests() == 3);
  }

  TEST_CASE("sessions resume: TLS 1.3 tickets, and TLS 1.2 session IDs from the cache") {
    test_pki pki;
    test_upstream up;
    const std::string base =
        https_gateway(https_listener("cert"), up.port()) + tls_secret_yaml(pki, "cert", "server");
    running_gateway gw(load_on_loopback(base), 2);
    const std::uint16_t port = https_port(gw);
    std::shared_ptr<void> session;
    {
      tls_client first(port, {.sni = "upstream.test"});
      REQUIRE(first.connected());
      CHECK_FALSE(first.resumed());
      CHECK(first.exchange(get_request("x")).starts_with("HTTP/1.1 200"));  // the ticket comes now
      session = first.session();
    }
    int resumed = 0;
    for (int i = 0; i < 4; ++i) {  // two workers: the ticket key is the listener's, not a worker's
      tls_client again(port, {.sni = "upstream.test", .session = session});
      REQUIRE(again.connected());
      resumed += again.resumed();
      CHECK(again.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
      session = again.session();
    }
    CHECK(resumed == 4);
    CHECK(metric(gw.server(), "gateway_tls_resumed_total") >= 4);

    // Stateful only: TLS 1.2 resumes by session ID from the server's cache.
    running_gateway cached(
        load_on_loopback(base + client_policy("  tls: {session: {resumption: {stateful: {}}}}\n")));
    std::shared_ptr<void> by_id;
    {
      tls_client first(https_port(cached), {.sni = "upstream.test", .max_version = TLS1_2_VERSION});
      REQUIRE(first.connected());
      CHECK(first.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
      by_id = first.session();
    }
    tls_client again(https_port(cached),
                     {.sni = "upstream.test", .max_version = TLS1_2_VERSION, .session = by_id});
    REQUIRE(again.connected());
    CHECK(again.resumed());
  }

  TEST_CASE("mTLS required: the CA's client gets through and filters see it, others are refused") {
    test_pki pki;
    pki.issue("alice", "alice",
              "subjectAltName=URI:spiffe://test/alice,DNS:alice.clients.test\n"
              "extendedKeyUsage=clientAuth");
    pki.issue("mallory", "mallory", "extendedKeyUsage=clientAuth", "ec", "other-ca");
    test_upstream up;
    auto cfg = load_on_loopback(
        https_gateway(https_listener("cert"), up.port()) + tls_secret_yaml(pki, "cert", "server") +
        ca_config_map_yaml(pki, "client-ca") +
        client_policy("  tls:\n    clientValidation:\n      caCertificateRefs: [{kind: ConfigMap, "
                      "name: client-ca}]\n  headers:\n    xForwardedClientCert:\n      mode: "
                      "SanitizeSet\n      certDetailsToAdd: [Subject, URI, DNS]\n"));
    add_tls_echo(cfg);
    char log_path[] = "/tmp/gateway-tls-log-XXXXXX";
    ::close(::mkstemp(log_path));
    gateway::server_options o;
    o.threads = 1;
    o.level = gateway::log_level::error;
    o.access_log = {log_path, "%tls_version% %tls_sni% %client_subject% %status%"};
    gateway::server gw(cfg, o);
    gw.start();
    const std::uint16_t port = gw.port("default/web/https");
    const std::string spoof =
        "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Client-Cert: Hash=forged\r\n\r\n";

    // No certificate: TLS 1.3 lets the client finish first; the server's alert ends it.
    tls_client anonymous(port, {.sni = "upstream.test"});
    CHECK(anonymous.exchange(get_request("x")).empty());
    tls_client foreign(port, {.sni = "upstream.test",
                              .cert_file = pki.path("mallory.crt"),
                              .key_file = pki.path("mallory.key")});
    CHECK(foreign.exchange(get_request("x")).empty());
    CHECK(up.requests() == 0);

    tls_client alice(port, {.sni = "upstream.test",
                            .cert_file = pki.path("alice.crt"),
                            .key_file = pki.path("alice.key")});
    REQUIRE(alice.connected());
    CHECK(alice.exchange(spoof).starts_with("HTTP/1.1 200"));
    const auto seen = up.last();
    CHECK(seen.header("x-seen-subject") == "CN=alice");
    CHECK(seen.header("x-seen-uri") == "spiffe://test/alice");
    const std::string hash = seen.header("x-seen-sha256");
    CHECK(hash.size() == 64);
    CHECK(seen.header("x-forwarded-client-cert") ==
          "Hash=" + hash + ";Subject=\"CN=alice\";URI=spiffe://test/alice;DNS=alice.clients.test");
    CHECK(seen.count("x-forwarded-client-cert") == 1);
    CHECK(eventually([&] {
      std::ifstream in(log_path);
      std::string line;
      std::getline(in, line);
      return line == "TLSv1.3 upstream.test CN=alice 200";
    }));
    gw.stop();
    std::remove(log_path);
  }

  TEST_CASE("optional client certificates, pins, and XFCC sanitized by default") {
    test_pki pki;
    pki.issue("alice", "alice", "extendedKeyUsage=clientAuth");
    pki.issue("bob", "bob", "extendedKeyUsage=clientAuth");
    test_upstream up;
    const std::string base = https_gateway(https_listener("cert"), up.port()) +
                             tls_secret_yaml(pki, "cert", "server") +
                             ca_config_map_yaml(pki, "client-ca");
    auto cfg = load_on_loopback(
        base + client_policy("  tls:\n    clientValidation:\n      optional: true\n      "
                             "caCertificateRefs: [{kind: ConfigMap, name: client-ca}]\n"));
    add_tls_echo(cfg);
    running_gateway gw(cfg);
    tls_client anonymous(https_port(gw), {.sni = "upstream.test"});
    REQUIRE(anonymous.connected());
    CHECK(anonymous
              .exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Client-Cert: Hash=forged\r\n\r\n")
              .starts_with("HTTP/1.1 200"));
    CHECK(up.last().header("x-seen-subject") == "none");
    CHECK(up.last().count("x-forwarded-client-cert") == 0);  // Sanitize: the default
    tls_client alice(https_port(gw), {.sni = "upstream.test",
                                      .cert_file = pki.path("alice.crt"),
                                      .key_file = pki.path("alice.key")});
    CHECK(alice.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
    CHECK(up.last().header("x-seen-subject") == "CN=alice");
    const std::string alice_hash = up.last().header("x-seen-sha256");

    // Pinned to alice's certificate: bob, though signed by the same CA, is refused.
    running_gateway pinned(load_on_loopback(
        base + client_policy("  tls:\n    clientValidation:\n      caCertificateRefs: [{kind: "
                             "ConfigMap, name: client-ca}]\n      certificateHashes: [\"" +
                             alice_hash + "\"]\n")));
    tls_client bob(https_port(pinned), {.sni = "upstream.test",
                                        .cert_file = pki.path("bob.crt"),
                                        .key_file = pki.path("bob.key")});
    CHECK(bob.exchange(get_request("x")).empty());
    tls_client alice2(https_port(pinned), {.sni = "upstream.test",
                                           .cert_file = pki.path("alice.crt"),
                                           .key_file = pki.path("alice.key")});
    CHECK(alice2.exchange(get_request("x")).starts_with("HTTP/1.1 200"));

    // AppendForward: the client's elements, from all its fields in order, then its own.
    running_gateway appending(load_on_loopback(
        base + client_policy("  tls:\n    clientValidation:\n      caCertificateRefs: [{kind: "
                             "ConfigMap, name: client-ca}]\n  headers:\n    "
                             "xForwardedClientCert: {mode: AppendForward, certDetailsToAdd: "
                             "[Subject]}\n")));
    tls_client alice3(https_port(appending), {.sni = "upstream.test",
                                              .cert_file = pki.path("alice.crt"),
                                              .key_file = pki.path("alice.key")});
    CHECK(alice3
              .exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Client-Cert: By=one\r\n"
                        "X-Forwarded-Client-Cert: By=two\r\n\r\n")
              .starts_with("HTTP/1.1 200"));
    CHECK(up.last().header("x-forwarded-client-cert") ==
          "By=one,By=two,Hash=" + alice_hash + ";Subject=\"CN=alice\"");
    CHECK(up.last().count("x-forwarded-client-cert") == 1);
  }

  TEST_CASE("a connection made for a listener without mTLS cannot reach one with it (421)") {
    test_pki pki;
    pki.issue("open", "open.test", "subjectAltName=DNS:open.test");
    pki.issue("locked", "locked.test", "subjectAltName=DNS:locked.test");
    test_upstream up;
    auto cfg = load_on_loopback(
        https_gateway(https_listener("open", "open", "open.test") +
                          https_listener("locked", "locked", "locked.test"),
                      up.port()) +
        tls_secret_yaml(pki, "open", "open") + tls_secret_yaml(pki, "locked", "locked") +
        ca_config_map_yaml(pki, "client-ca") +
        client_policy("  tls:\n    clientValidation:\n      caCertificateRefs: [{kind: ConfigMap, "
                      "name: client-ca}]\n",
                      "locked"));
    running_gateway gw(cfg);
    share_https_port(gw.server(), cfg);
    REQUIRE(https_port(gw, "open") == https_port(gw, "locked"));
    tls_client c(https_port(gw, "open"), {.sni = "open.test"});
    REQUIRE(c.connected());
    CHECK(c.exchange(get_request("open.test")).starts_with("HTTP/1.1 200"));
    const std::string answer = c.exchange(get_request("locked.test"));
    CHECK(answer.starts_with("HTTP/1.1 421"));
    CHECK(up.requests() == 1);
    // Without SNI the catch-all is the first listener declared: the same.
    tls_client no_sni(https_port(gw, "open"), {});
    CHECK(no_sni.exchange(get_request("locked.test")).starts_with("HTTP/1.1 421"));
    // Nor does a session from the open listener resume on the locked one
    // (TLS 1.2: the client offers its session ID whatever the name).
    std::shared_ptr<void> session;
    {
      tls_client open12(https_port(gw, "open"),
                        {.sni = "open.test", .max_version = TLS1_2_VERSION});
      REQUIRE(open12.connected());
      session = open12.session();
    }
    tls_client sneaky(https_port(gw, "open"),
                      {.sni = "locked.test", .max_version = TLS1_2_VERSION, .session = session});
    CHECK_FALSE(sneaky.connected());
    CHECK(up.requests() == 1);
  }

  TEST_CASE("a certificate swapped by reload serves new connections, old ones keep working") {
    test_pki pki;
    pki.issue("one", "one.test", "subjectAltName=DNS:one.test");
    pki.issue("two", "two.test", "subjectAltName=DNS:two.test");
    test_upstream up;
    const std::string front = https_gateway(https_listener("cert"), up.port());
    captured_log log;
    auto gw = start_logged(load_on_loopback(front + tls_secret_yaml(pki, "cert", "one")), log);
    const std::uint16_t port = gw->port("default/web/https");
    tls_client old(port, {.sni = "x.test"});
    REQUIRE(old.connected());
    CHECK(old.server_cn() == "one.test");
    CHECK(old.exchange(get_request("x")).starts_with("HTTP/1.1 200"));

    gw->reload(load_on_loopback(front + tls_secret_yaml(pki, "cert", "two")));
    CHECK(gw->port("default/web/https") == port);
    tls_client fresh(port, {.sni = "x.test"});
    REQUIRE(fresh.connected());
    CHECK(fresh.server_cn() == "two.test");
    CHECK(old.exchange(get_request("x")).starts_with("HTTP/1.1 200"));  // still on its handshake

    // A key that does not match: the reload is refused and "two" keeps serving.
    std::string broken = front +
                         "---\napiVersion: v1\nkind: Secret\nmetadata: {name: cert}\n"
                         "stringData:\n  tls.crt: |\n" +
                         yaml_block(pki.read("one.crt"), 4) + "  tls.key: |\n" +
                         yaml_block(pki.read("two.key"), 4);
    std::string why;
    try {
      gw->reload(load_on_loopback(broken));
    } catch (const gateway::error& e) {
      why = e.what();
    }
    CHECK(why.find("private key does not match the certificate") != std::string::npos);
    tls_client after(port, {.sni = "x.test"});
    CHECK(after.server_cn() == "two.test");
    CHECK(old.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
  }

  TEST_CASE("certificate files are watched: a change is served, a broken one is refused") {
    // Served by a worker thread, and mounted on a host's loop, where the
    // checks run on the loop: no thread of the gateway's until a change.
    for (const bool mounted : {false, true}) {
      CAPTURE(mounted);
      test_pki pki;
      pki.issue("one", "one.test", "subjectAltName=DNS:one.test");
      pki.issue("two", "two.test", "subjectAltName=DNS:two.test");
      const std::string crt = pki.path("live.crt"), key = pki.path("live.key");
      auto install = [&](const std::string& c, const std::string& k) {
        // Written elsewhere and renamed over, as certificate tools do.
        std::ofstream(crt + ".new") << pki.read(c + ".crt");
        std::ofstream(key + ".new") << pki.read(k + ".key");
        std::rename((key + ".new").c_str(), key.c_str());
        std::rename((crt + ".new").c_str(), crt.c_str());
      };
      install("one", "one");
      test_upstream up;
      auto cfg = load_on_loopback(
          https_gateway(https_listener("cert"), up.port()) +
          "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cert\n  annotations:\n"
          "    gateway.dev/certificate-file: " +
          crt + "\n    gateway.dev/key-file: " + key + "\ntype: kubernetes.io/tls\n");
      captured_log log;
      gateway::server_options o;
      o.threads = 1;
      o.level = gateway::log_level::info;
      o.sink = log.sink();
      o.certificate_check_interval = std::chrono::milliseconds(50);
      std::optional<host_loop> host;  // before the server, which it outlives
      if (mounted) host.emplace();
      gateway::server gw(cfg, o);
      const std::size_t threads_before = thread_count();
      if (mounted)
        gateway::start_on(gw, host->ioc);
      else
        gw.start();
      const std::uint16_t port = gw.port("default/web/https");
      auto cn = [&] {
        tls_client c(port, {.sni = "x.test"});
        return c.server_cn();
      };
      CHECK(cn() == "one.test");
      if (mounted) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // four checks
        CHECK(thread_count() == threads_before);
      }
      tls_client old(port, {.sni = "x.test"});
      REQUIRE(old.connected());
      install("two", "two");
      CHECK(eventually([&] { return cn() == "two.test"; }));
      // New connections get the certificate once the snapshot is published;
      // the watcher logs after the reload has finished with every worker.
      CHECK(eventually([&] { return log.has("certificate files changed: reloaded"); }));
      // A mismatched pair (while a pair is being replaced, one may also be seen
      // for a moment): refused, and "two" keeps serving.
      const std::size_t refused = log.count("keep serving");
      install("one", "two");
      CHECK(eventually([&] { return log.count("keep serving") > refused; }));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // four more checks
      CHECK(cn() == "two.test");
      CHECK(old.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
      install("one", "one");  // fixed: served again
      CHECK(eventually([&] { return cn() == "one.test"; }));
      gw.stop();
    }
  }

  TEST_CASE("a half-done handshake times out without holding up the worker") {
    test_pki pki;
    test_upstream up;
    captured_log log;
    auto gw = start_logged(
        load_on_loopback(
            https_gateway(https_listener("cert"), up.port()) +
            tls_secret_yaml(pki, "cert", "server") +
            client_policy("  tls: {handshakeTimeout: 300ms, maxPendingHandshakes: 2}\n")),
        log);
    const std::uint16_t port = gw->port("default/web/https");
    const auto start = std::chrono::steady_clock::now();
    test_client stalled(port);
    REQUIRE(stalled.send(std::string("\x16\x03\x01\x02\x00\x01", 6)));  // a ClientHello's start
    // The one worker serves others meanwhile.
    tls_client other(port, {.sni = "upstream.test"});
    REQUIRE(other.connected());
    CHECK(other.exchange(get_request("x")).starts_with("HTTP/1.1 200"));
    CHECK(stalled.closed_by_peer(std::chrono::seconds(5)));
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= std::chrono::milliseconds(250));  // not early; the metric says it was the timeout
    CHECK(metric(*gw, "gateway_tls_handshakes_total{result=\"timeout\"}") == 1);

    // Past maxPendingHandshakes, connections are closed at once.
    test_client a(port), b(port);
    REQUIRE(a.send("\x16"));
    REQUIRE(b.send("\x16"));
    CHECK(eventually([&] {
      test_client c(port);
      return c.closed_by_peer(std::chrono::milliseconds(100)) &&
             metric(*gw, "gateway_tls_handshakes_total{result=\"refused\"}") >= 1;
    }));
  }

  TEST_CASE("an OCSP response file is stapled for clients that ask") {
    test_pki pki;
    pki.ocsp_response("server");
    test_upstream up;
    const std::string ocsp = pki.read("server.ocsp");
    REQUIRE(!ocsp.empty());
    running_gateway gw(load_on_loopback(
        https_gateway(https_listener("cert"), up.port()) +
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cert\n  annotations:\n"
        "    gateway.dev/ocsp-file: " +
        pki.path("server.ocsp") + "\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" +
        yaml_block(pki.read("server.crt"), 4) + "  tls.key: |\n" +
        yaml_block(pki.read("server.key"), 4)));
    for (int v : {TLS1_2_VERSION, TLS1_3_VERSION}) {
      tls_client asks(https_port(gw),
                      {.sni = "upstream.test", .max_version = v, .request_ocsp = true});
      REQUIRE(asks.connected());
      CHECK(asks.ocsp() == ocsp);
    }
    tls_client quiet(https_port(gw), {.sni = "upstream.test"});
    REQUIRE(quiet.connected());
    CHECK(quiet.ocsp().empty());

    // A response past its nextUpdate is not stapled (clients would reject
    // it), with a warning when it is loaded.
    pki.stale_ocsp_response("server");
    captured_log log;
    auto stale = start_logged(
        load_on_loopback(https_gateway(https_listener("cert"), up.port()) +
                         "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cert\n  "
                         "annotations:\n    gateway.dev/ocsp-file: " +
                         pki.path("server.stale-ocsp") +
                         "\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" +
                         yaml_block(pki.read("server.crt"), 4) + "  tls.key: |\n" +
                         yaml_block(pki.read("server.key"), 4)),
        log);
    CHECK(log.has("OCSP response is past its nextUpdate: not stapled"));
    tls_client late(stale->port("default/web/https"),
                    {.sni = "upstream.test", .request_ocsp = true});
    REQUIRE(late.connected());
    CHECK(late.ocsp().empty());
  }

  TEST_CASE("an HTTPRoute redirect sends plain HTTP to the HTTPS listener") {
    test_pki pki;
    pki.issue("app", "app.test", "subjectAltName=DNS:app.test");
    test_upstream up;
    running_gateway gw(load_on_loopback(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web}\n"
        "spec:\n  gatewayClassName: any\n  listeners:\n  - {name: http, port: 80, protocol: "
        "HTTP}\n" +
        https_listener("app") + service_yaml("app", up.port()) +
        tls_secret_yaml(pki, "app", "app") +
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: "
        "to-https}\nspec:\n  parentRefs: [{name: web, sectionName: http}]\n  rules:\n  - "
        "filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]\n"
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: app}\n"
        "spec:\n  parentRefs: [{name: web, sectionName: https}]\n  rules:\n  - backendRefs: "
        "[{name: app, port: 80}]\n"));
    auto r = request(gw.server().port("default/web/http"),
                     "GET /a?b=1 HTTP/1.1\r\nHost: app.test\r\n\r\n");
    CHECK(r.status == 301);
    CHECK(r.header("location") == "https://app.test/a?b=1");
    tls_client c(https_port(gw), {.sni = "app.test"});
    REQUIRE(c.connected());
    CHECK(c.exchange(get_request("app.test", "/a?b=1")).starts_with("HTTP/1.1 200"));
    CHECK(up.last().target == "/a?b=1");
  }

  TEST_CASE("large bodies cross TLS intact both ways, on one keep-alive connection") {
    test_pki pki;
    constexpr std::uint64_t big = 8ull << 20;
    test_upstream up([&](const received_request& r) {
      response_plan p;
      if (r.method == "GET") {
        p.generated_bytes = big;  // many records, written as the socket takes them
      } else {
        p.body = r.digest.matches_pattern_of(big) ? "intact" : "corrupt";
      }
      return p;
    });
    running_gateway gw(load_on_loopback(https_gateway(https_listener("cert"), up.port()) +
                                        tls_secret_yaml(pki, "cert", "server")));
    tls_client c(https_port(gw), {.sni = "upstream.test"});
    REQUIRE(c.connected());
    for (int round = 0; round < 2; ++round) {
      const std::string down = c.exchange(get_request("x", "/big"));
      REQUIRE(down.starts_with("HTTP/1.1 200"));
      const std::size_t body = down.find("\r\n\r\n") + 4;
      REQUIRE(down.size() - body == big);
      bool same = true;
      for (std::uint64_t i = 0; i < big && same; ++i)
        same = static_cast<unsigned char>(down[body + i]) == pattern_byte(i);
      CHECK(same);
      std::string upload =
          "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(big) + "\r\n\r\n";
      const std::size_t at = upload.size();
      upload.resize(at + big);
      for (std::uint64_t i = 0; i < big; ++i)
        upload[at + i] = static_cast<char>(pattern_byte(i));
      const std::string answer = c.exchange(upload);
      CHECK(answer.starts_with("HTTP/1.1 200"));
      CHECK(answer.ends_with("intact"));
    }
    CHECK(up.requests() == 4);
  }

  TEST_CASE("broken TLS configs are refused with what is wrong") {
    test_pki pki;
    pki.issue("weak", "weak.test", "subjectAltName=DNS:weak.test", "rsa");
    const std::string front = https_gateway(https_listener("cert"), 9);
    const std::string good = tls_secret_yaml(pki, "cert", "server");
    CHECK(load_error(front).find("Secret default/cert not found") != std::string::npos);
    const std::string mismatched =
        "---\napiVersion: v1\nkind: Secret\nmetadata: {name: cert}\nstringData:\n  tls.crt: |\n" +
        yaml_block(pki.read("server.crt"), 4) + "  tls.key: |\n" +
        yaml_block(pki.read("weak.key"), 4);
    CHECK(load_error(front + mismatched).find("does not match") != std::string::npos);
    CHECK(load_error(front + good + client_policy("  tls: {ciphers: [NOT-A-CIPHER]}\n"))
              .find("unknown cipher suite 'NOT-A-CIPHER'") != std::string::npos);
    CHECK(load_error(front + good + client_policy("  tls: {minVersion: \"1.1\"}\n"))
              .find("TLS 1.1 is not supported") != std::string::npos);
    CHECK(load_error(front + good + client_policy("  tls: {alpnProtocols: [h3]}\n")).find("'h3'") !=
          std::string::npos);
    CHECK(load_error(front + good + client_policy("  tls: {ecdhCurves: [P-999]}\n"))
              .find("unknown key exchange group 'P-999'") != std::string::npos);
    CHECK(
        load_error(front + good +
                   client_policy("  tls:\n    clientValidation:\n      caCertificateRefs: [{kind: "
                                 "ConfigMap, name: missing}]\n"))
            .find("ConfigMap default/missing not found") != std::string::npos);
    // HTTP and HTTPS cannot share a port.
    CHECK(load_error("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: "
                     "web}\nspec:\n  gatewayClassName: any\n  listeners:\n  - {name: http, port: "
                     "443, protocol: HTTP, hostname: a.test}\n" +
                     https_listener("cert") + good)
              .find("mix HTTPS and plain HTTP") != std::string::npos);
    // A certificate in a file that is not there.
    CHECK(load_error(front +
                     "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cert\n  annotations:\n"
                     "    gateway.dev/certificate-file: /nonexistent/cert.pem\n"
                     "    gateway.dev/key-file: /nonexistent/key.pem\n")
              .find("cannot read") != std::string::npos);
  }
}
