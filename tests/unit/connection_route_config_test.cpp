// TCP and TLS listeners with TCPRoutes and TLSRoutes: what loads, what is
// refused with which message, and the route statuses; and the ClientHello
// reader that TLS passthrough routes by, fed real ClientHellos from OpenSSL.
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <doctest/doctest.h>

#include <openssl/ssl.h>

#include <string>

#include "tls/client_hello.hpp"

using namespace gateway;

namespace {

const std::string gateway_doc = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: any
  addresses: [{type: IPAddress, value: 127.0.0.1}]
  listeners:
  - {name: raw, port: 9000, protocol: TCP}
  - {name: pass, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: web, port: 8080, protocol: HTTP}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  ports: [{name: pg, port: 5432, appProtocol: postgresql}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  labels: {kubernetes.io/service-name: db}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{name: pg, port: 5432}]
)";

std::string route_doc(const std::string& kind, const std::string& name, const std::string& section,
                      const std::string& spec_extra = "", const std::string& rule_extra = "") {
  return "---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: " + kind +
         "\nmetadata: {name: " + name +
         "}\nspec:\n  parentRefs: [{name: edge, sectionName: " + section + "}]\n" + spec_extra +
         "  rules:\n  - backendRefs: [{name: db, port: 5432}]\n" + rule_extra;
}

std::string load_error(const std::string& text) {
  try {
    validate(load_yaml(text, "gw.yaml"));
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

const route_status* status_of(const gateway_config& c, std::string_view route) {
  for (const route_status& s : c.statuses)
    if (s.route == route) return &s;
  return nullptr;
}

const listener_config& listener_named(const gateway_config& c, std::string_view name) {
  for (const listener_config& l : c.listeners)
    if (l.name == name) return l;
  throw std::runtime_error("no listener " + std::string(name));
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The first flight of an OpenSSL client offering `sni` ("" for none): a
// real ClientHello, as one record.
std::string client_hello_bytes(const std::string& sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  SSL_connect(ssl);  // wants to read the answer; the hello is written
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<std::size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

// The same handshake message cut into records of at most `piece` bytes.
std::string split_records(const std::string& hello, std::size_t piece) {
  const std::string message = hello.substr(5);
  std::string out;
  for (std::size_t at = 0; at < message.size(); at += piece) {
    const std::string part = message.substr(at, piece);
    out.append({'\x16', '\x03', '\x01', static_cast<char>(part.size() >> 8),
                static_cast<char>(part.size() & 0xff)});
    out += part;
  }
  return out;
}

}  // namespace

TEST_SUITE("connection_route_config") {
  TEST_CASE("TCPRoute and TLSRoute load onto TCP and TLS listeners") {
    const gateway_config c =
        load_yaml(gateway_doc + route_doc("TCPRoute", "pg", "raw") +
                      route_doc("TLSRoute", "secure", "pass",
                                "  hostnames: [db.example.com, \"*.db.example.com\"]\n"),
                  "gw.yaml");
    validate(c);
    const listener_config& raw = listener_named(c, "default/edge/raw");
    CHECK(raw.protocol == listener_protocol::tcp);
    CHECK_FALSE(raw.tls);
    REQUIRE(raw.routes.size() == 1);
    CHECK(raw.routes[0].kind == route_kind::tcp);
    CHECK(raw.routes[0].rules.size() == 1);
    CHECK(raw.routes[0].rules[0].matches.empty());
    // A connection may rest for long: an hour, not an HTTP body's minute.
    CHECK(raw.limits.stream_idle_timeout == std::chrono::hours(1));
    const listener_config& pass = listener_named(c, "default/edge/pass");
    CHECK(pass.protocol == listener_protocol::tls_passthrough);
    REQUIRE(pass.routes.size() == 1);
    CHECK(pass.routes[0].kind == route_kind::tls);
    CHECK(pass.routes[0].hostnames ==
          std::vector<std::string>{"db.example.com", "*.db.example.com"});
    // The Service port's appProtocol is not HTTP, and need not be.
    REQUIRE(c.clusters.size() == 1);
    CHECK(c.clusters[0].name == "default/db:5432");
    const route_status* st = status_of(c, "default/pg");
    REQUIRE(st);
    CHECK(st->kind == "TCPRoute");
    CHECK(st->conditions[0].status);
  }

  TEST_CASE("a ClientTrafficPolicy's tcp.idleTimeout is a connection listener's idle timeout") {
    const std::string policy =
        "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
        "metadata: {name: c}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: "
        "Gateway, name: edge}]\n  timeout: {tcp: {idleTimeout: 10m}, http: {streamIdleTimeout: "
        "20s}}\n  connection: {connectionLimit: {value: 50}}\n";
    const gateway_config c =
        load_yaml(gateway_doc + route_doc("TCPRoute", "pg", "raw") + policy, "gw.yaml");
    CHECK(listener_named(c, "default/edge/raw").limits.stream_idle_timeout ==
          std::chrono::minutes(10));
    CHECK(listener_named(c, "default/edge/pass").limits.stream_idle_timeout ==
          std::chrono::minutes(10));
    CHECK(listener_named(c, "default/edge/web").limits.stream_idle_timeout ==
          std::chrono::seconds(20));
    CHECK(listener_named(c, "default/edge/raw").limits.max_connections == 50);
  }

  TEST_CASE("a route kind the listener's protocol does not carry is not attached") {
    const gateway_config c =
        load_yaml(gateway_doc + route_doc("TCPRoute", "on-web", "web") +
                      route_doc("TLSRoute", "on-raw", "raw") +
                      "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: "
                      "{name: on-pass}\nspec:\n  parentRefs: [{name: edge, sectionName: pass}]\n",
                  "gw.yaml");
    for (const char* name : {"default/on-web", "default/on-raw", "default/on-pass"}) {
      CAPTURE(name);
      const route_status* st = status_of(c, name);
      REQUIRE(st);
      CHECK_FALSE(st->conditions[0].status);
      CHECK(st->conditions[0].reason == "NotAllowedByListeners");
    }
    for (const listener_config& l : c.listeners)
      CHECK(l.routes.empty());
  }

  TEST_CASE("the second TCPRoute on a TCP listener is Conflicted") {
    const gateway_config c = load_yaml(gateway_doc + route_doc("TCPRoute", "first", "raw") +
                                           route_doc("TCPRoute", "second", "raw"),
                                       "gw.yaml");
    const route_status* second = status_of(c, "default/second");
    REQUIRE(second);
    CHECK_FALSE(second->conditions[0].status);
    CHECK(second->conditions[0].reason == "Conflicted");
    const listener_config& raw = listener_named(c, "default/edge/raw");
    REQUIRE(raw.routes.size() == 1);
    CHECK(raw.routes[0].name == "first");
  }

  TEST_CASE("what is refused, with the field that is wrong") {
    // A hostname on a TCP listener: nothing in the connection names one.
    CHECK(has(load_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: any
  listeners: [{name: raw, port: 9000, protocol: TCP, hostname: db.example.com}]
)"),
              "spec.listeners[0].hostname: a TCP listener has no hostname"));
    // Passthrough belongs to protocol TLS; TLS needs its tls block.
    CHECK(has(load_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: any
  listeners: [{name: s, port: 443, protocol: HTTPS, tls: {mode: Passthrough}}]
)"),
              "mode Passthrough needs protocol TLS"));
    CHECK(has(load_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: any
  listeners: [{name: s, port: 443, protocol: TLS}]
)"),
              "a TLS listener needs tls"));
    CHECK(has(load_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: any
  listeners: [{name: s, port: 443, protocol: TLS, tls: {mode: Passthrough, certificateRefs: [{name: x}]}}]
)"),
              "mode Passthrough leaves TLS to the backends"));
    // allowedRoutes.kinds must be what the protocol carries.
    CHECK(has(load_error(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: any
  listeners: [{name: raw, port: 9000, protocol: TCP, allowedRoutes: {kinds: [{kind: HTTPRoute}]}}]
)"),
              "a TCP listener carries TCPRoute, not 'HTTPRoute'"));
    // A rule of a connection route has backends only, and there is one.
    CHECK(has(load_error(gateway_doc + route_doc("TCPRoute", "two", "raw", "",
                                                 "  - backendRefs: [{name: db, port: 5432}]\n")),
              "spec.rules[1]: a TCPRoute has one rule here"));
    CHECK(has(load_error(gateway_doc + "---\napiVersion: gateway.networking.k8s.io/v1alpha2\n"
                                       "kind: TCPRoute\nmetadata: {name: m}\nspec:\n"
                                       "  parentRefs: [{name: edge}]\n  rules:\n"
                                       "  - matches: [{path: {value: /}}]\n"
                                       "    backendRefs: [{name: db, port: 5432}]\n"),
              "spec.rules[0].matches: unknown or unsupported field"));
    CHECK(has(
        load_error(gateway_doc + route_doc("TCPRoute", "h", "raw", "  hostnames: [a.example]\n")),
        "spec.hostnames: unknown or unsupported field"));
    // Only a BackendTrafficPolicy's upstream settings act on connections.
    CHECK(has(load_error(gateway_doc + route_doc("TCPRoute", "pg", "raw") + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: auth}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: TCPRoute, name: pg}]
  basicAuth: {users: {name: users}}
)"),
              "only a BackendTrafficPolicy targets a TCPRoute"));
  }

  TEST_CASE("listeners sharing a port must agree on what the first bytes are") {
    gateway_config c;
    listener_config a, b;
    a.name = "a";
    a.bind_address = b.bind_address = "127.0.0.1";
    a.bind_port = b.bind_port = 9000;
    a.protocol = listener_protocol::tcp;
    b.name = "b";
    b.hostname = "b.example";
    c.listeners = {a, b};
    CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("mix protocols"), error);
    c.listeners[1].protocol = listener_protocol::tcp;
    CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("nothing in a plain TCP connection"),
                         error);
    // TLS passthrough listeners share a port by hostname.
    c.listeners[0].protocol = c.listeners[1].protocol = listener_protocol::tls_passthrough;
    c.listeners[0].hostname = "a.example";
    CHECK_NOTHROW(validate(c));
    // An HTTPRoute cannot ride a connection listener.
    route r;
    r.name = "web";
    r.rules.emplace_back();
    c.listeners[0].routes = {r};
    CHECK_THROWS_WITH_AS(validate(c),
                         doctest::Contains("cannot attach to this listener's protocol"), error);
  }
}

TEST_SUITE("client_hello") {
  TEST_CASE("the server name of a real ClientHello, whole, cut short and across records") {
    const std::string hello = client_hello_bytes("Db.Example.COM");
    REQUIRE(hello.size() > 100);
    std::string storage;
    tls::client_hello got = tls::read_client_hello(hello, storage);
    CHECK(got.status == tls::hello_status::complete);
    CHECK(got.server_name == "db.example.com");
    // Every prefix asks for more; none is mistaken for something else.
    for (std::size_t n = 0; n < hello.size(); ++n)
      CHECK(tls::read_client_hello(std::string_view(hello).substr(0, n), storage).status ==
            tls::hello_status::need_more);
    // The handshake message across many small records.
    const std::string split = split_records(hello, 37);
    got = tls::read_client_hello(split, storage);
    CHECK(got.status == tls::hello_status::complete);
    CHECK(got.server_name == "db.example.com");
    for (std::size_t n = 0; n < split.size(); n += 11)
      CHECK(tls::read_client_hello(std::string_view(split).substr(0, n), storage).status ==
            tls::hello_status::need_more);
  }

  TEST_CASE("no server name, and what is not a ClientHello") {
    std::string storage;
    const tls::client_hello none = tls::read_client_hello(client_hello_bytes(""), storage);
    CHECK(none.status == tls::hello_status::complete);
    CHECK(none.server_name.empty());
    CHECK(tls::read_client_hello("GET / HTTP/1.1\r\n\r\n", storage).status ==
          tls::hello_status::not_tls);
    // An alert record, and a handshake that is not a ClientHello.
    CHECK(tls::read_client_hello(std::string("\x15\x03\x03\x00\x02\x02\x28", 7), storage).status ==
          tls::hello_status::not_tls);
    CHECK(tls::read_client_hello(std::string("\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9), storage)
              .status == tls::hello_status::not_tls);
    // A hello whose declared length is past the limit.
    CHECK(tls::read_client_hello(std::string("\x16\x03\x01\x00\x04\x01\x7f\xff\xff", 9), storage)
              .status == tls::hello_status::not_tls);
    // A session id longer than 32 bytes: malformed, not TLS to route.
    const std::string hello = client_hello_bytes("a.example");
    std::string broken = hello;
    broken[5 + 4 + 2 + 32] = 33;  // after the headers, the version and the random
    CHECK(tls::read_client_hello(broken, storage).status == tls::hello_status::not_tls);
    // A handshake declared longer than its record: more is asked for, no
    // read goes past the end.
    broken = hello;
    broken[6] = '\x00';
    broken[7] = '\xff';
    broken[8] = '\xff';
    CHECK(tls::read_client_hello(broken, storage).status == tls::hello_status::need_more);
  }
}
