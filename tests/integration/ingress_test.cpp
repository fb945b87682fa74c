// Ingress (networking.k8s.io/v1) and the ingress-nginx annotations, loaded
// from YAML and exercised with real requests against real upstreams.
#include <doctest/doctest.h>

#include <gateway/error.hpp>

#include "gateway_fixture.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

handler named(std::string name, std::chrono::milliseconds delay = {}) {
  return [name = std::move(name), delay](const received_request& r) {
    response_plan p;
    p.delay = delay;
    p.body = name + " " + r.target + " host=" + r.header("host");
    return p;
  };
}

client_response get(std::uint16_t port, const std::string& host, const std::string& target,
                    const std::string& extra = "") {
  return request(port, "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra +
                           "Connection: close\r\n\r\n");
}

const std::string ingress_head = "apiVersion: networking.k8s.io/v1\nkind: Ingress\n";

}  // namespace

TEST_SUITE("ingress") {
  TEST_CASE("rules by host and path type, and the default backend") {
    test_upstream api(named("api")), web(named("web")), fallback(named("fallback"));
    auto cfg = load_on_loopback(ingress_head + R"(metadata: {name: shop}
spec:
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {name: http}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
)" + service_yaml("api", api.port()) +
                                service_yaml("web", web.port()) +
                                service_yaml("fallback", fallback.port()));
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].name == "ingress/none/http");
    CHECK(cfg.listeners[0].port == 80);
    running_gateway gw(cfg);
    CHECK(get(gw.port(), "shop.example.com", "/api/items").body.starts_with("api /api/items"));
    CHECK(get(gw.port(), "shop.example.com", "/exact").body.starts_with("web /exact"));
    CHECK(get(gw.port(), "shop.example.com", "/exact/more").body.starts_with("fallback"));
    CHECK(get(gw.port(), "shop.example.com", "/apix").body.starts_with("fallback"));
    CHECK(get(gw.port(), "other.org", "/api").body.starts_with("fallback"));
  }

  TEST_CASE("rewrite-target with use-regex capture groups, and upstream-vhost") {
    test_upstream api(named("api"));
    auto cfg = load_on_loopback(ingress_head + R"(metadata:
  name: rw
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /v2/$2
    nginx.ingress.kubernetes.io/upstream-vhost: internal.svc
spec:
  rules:
  - http:
      paths:
      - {path: /api(/|$)(.*), pathType: ImplementationSpecific, backend: {service: {name: api, port: {number: 80}}}}
)" + service_yaml("api", api.port()));
    running_gateway gw(cfg);
    CHECK(get(gw.port(), "a", "/api/users/7?x=1").body == "api /v2/users/7?x=1 host=internal.svc");
    CHECK(get(gw.port(), "a", "/API").body == "api /v2/ host=internal.svc");  // case-insensitive
    CHECK(get(gw.port(), "a", "/other").status == 404);
  }

  TEST_CASE("canary by header, by cookie and by weight") {
    test_upstream stable(named("stable")), canary(named("canary"));
    const std::string main_ingress = ingress_head + R"(metadata: {name: app}
spec:
  rules:
  - host: app.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: stable, port: {number: 80}}}}
)";
    auto canary_ingress = [](const std::string& annotations) {
      return "---\n" + ingress_head + "metadata:\n  name: app-canary\n  annotations:\n" +
             "    nginx.ingress.kubernetes.io/canary: \"true\"\n" + annotations + R"(spec:
  rules:
  - host: app.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: canary, port: {number: 80}}}}
)";
    };
    const std::string services =
        service_yaml("stable", stable.port()) + service_yaml("canary", canary.port());
    auto who = [](const client_response& r) { return r.body.substr(0, r.body.find(' ')); };

    SUBCASE("header with always/never, and cookie") {
      running_gateway gw(
          load_on_loopback(main_ingress +
                           canary_ingress("    nginx.ingress.kubernetes.io/canary-by-header: "
                                          "x-canary\n    nginx.ingress.kubernetes.io/"
                                          "canary-by-cookie: use_canary\n") +
                           services));
      CHECK(who(get(gw.port(), "app.example.com", "/")) == "stable");
      CHECK(who(get(gw.port(), "app.example.com", "/", "x-canary: always\r\n")) == "canary");
      CHECK(who(get(gw.port(), "app.example.com", "/", "x-canary: never\r\n")) == "stable");
      CHECK(who(get(gw.port(), "app.example.com", "/", "cookie: a=1; use_canary=always\r\n")) ==
            "canary");
      CHECK(who(get(gw.port(), "app.example.com", "/", "cookie: use_canary=never\r\n")) ==
            "stable");
      // The header decides before the cookie.
      CHECK(who(get(gw.port(), "app.example.com", "/",
                    "x-canary: never\r\ncookie: use_canary=always\r\n")) == "stable");
    }
    SUBCASE("header with a value") {
      running_gateway gw(
          load_on_loopback(main_ingress +
                           canary_ingress("    nginx.ingress.kubernetes.io/canary-by-header: "
                                          "x-region\n    nginx.ingress.kubernetes.io/"
                                          "canary-by-header-value: eu\n") +
                           services));
      CHECK(who(get(gw.port(), "app.example.com", "/", "x-region: eu\r\n")) == "canary");
      CHECK(who(get(gw.port(), "app.example.com", "/", "x-region: us\r\n")) == "stable");
    }
    SUBCASE("weight 20 of 100") {
      running_gateway gw(load_on_loopback(
          main_ingress + canary_ingress("    nginx.ingress.kubernetes.io/canary-weight: \"20\"\n") +
          services));
      test_client c(gw.port());
      for (int i = 0; i < 1000; ++i) {
        REQUIRE(c.send("GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n"));
        REQUIRE(c.read_response().status == 200);
      }
      // Binomial(1000, 0.2): mean 200, sd 12.6; six sd either side.
      CHECK(canary.requests() >= 124);
      CHECK(canary.requests() <= 276);
      CHECK(stable.requests() + canary.requests() == 1000);
    }
  }

  TEST_CASE(
      "redirect annotations: ssl-redirect, force-ssl-redirect, permanent, temporal, app-root") {
    test_upstream up(named("up"));
    test_pki pki;
    pki.issue("secure", "secure.example.com", "subjectAltName=DNS:secure.example.com");
    const std::string secret = tls_secret_yaml(pki, "cert", "secure");
    auto ingress = [&](const std::string& name, const std::string& annotations,
                       const std::string& host, bool tls) {
      return "---\n" + ingress_head + "metadata:\n  name: " + name + "\n  annotations:\n" +
             annotations + "spec:\n" +
             (tls ? "  tls: [{hosts: [" + host + "], secretName: cert}]\n" : std::string()) +
             "  rules:\n  - host: " + host +
             "\n    http:\n      paths:\n      - {path: /, pathType: Prefix, backend: {service: "
             "{name: up, port: {number: 80}}}}\n";
    };
    const std::string none = "    x-unused/none: \"\"\n";
    auto cfg = load_on_loopback(
        ingress("tls", none, "secure.example.com", true) +
        ingress("tls-off", "    nginx.ingress.kubernetes.io/ssl-redirect: \"false\"\n",
                "plain.example.com", true) +
        ingress("forced", "    nginx.ingress.kubernetes.io/force-ssl-redirect: \"true\"\n",
                "forced.example.com", false) +
        ingress(
            "moved",
            "    nginx.ingress.kubernetes.io/permanent-redirect: https://new.example.com/home\n",
            "moved.example.com", false) +
        ingress("moved-308",
                "    nginx.ingress.kubernetes.io/permanent-redirect: https://new.example.com/v2\n"
                "    nginx.ingress.kubernetes.io/permanent-redirect-code: \"308\"\n",
                "moved308.example.com", false) +
        ingress(
            "temp",
            "    nginx.ingress.kubernetes.io/temporal-redirect: http://other.example.com:8080/x\n",
            "temp.example.com", false) +
        ingress("root", "    nginx.ingress.kubernetes.io/app-root: /app\n", "root.example.com",
                false) +
        service_yaml("up", up.port()) + secret);
    bool warned = false;
    for (const auto& w : cfg.warnings)
      warned = warned || w.find("metadata.annotations.x-unused/none") != std::string::npos;
    CHECK(warned);
    running_gateway gw(cfg);
    auto r = get(gw.port(), "secure.example.com", "/a?b=1");
    CHECK(r.status == 308);
    CHECK(r.header("location") == "https://secure.example.com/a?b=1");
    CHECK(get(gw.port(), "plain.example.com", "/a").status == 200);
    CHECK(get(gw.port(), "forced.example.com", "/a").status == 308);
    r = get(gw.port(), "moved.example.com", "/old");
    CHECK(r.status == 301);
    CHECK(r.header("location") == "https://new.example.com/home");
    r = get(gw.port(), "moved308.example.com", "/old");
    CHECK(r.status == 308);
    CHECK(r.header("location") == "https://new.example.com/v2");
    r = get(gw.port(), "temp.example.com", "/old");
    CHECK(r.status == 302);
    CHECK(r.header("location") == "http://other.example.com:8080/x");
    r = get(gw.port(), "root.example.com", "/");
    CHECK(r.status == 302);
    CHECK(r.header("location").ends_with("/app"));
    CHECK(get(gw.port(), "root.example.com", "/app").status == 200);
    // The hosts with TLS are served on the class's HTTPS listener, with the Secret's certificate.
    tls_client client(gw.server().port("ingress/none/https"), {.sni = "secure.example.com"});
    REQUIRE(client.connected());
    CHECK(client.server_cn() == "secure.example.com");
    const std::string answer = client.exchange(get_request("secure.example.com", "/a"));
    CHECK(answer.starts_with("HTTP/1.1 200"));
    CHECK(answer.find("up") != std::string::npos);
  }

  TEST_CASE("permanent-redirect-code must be a redirect status and needs permanent-redirect") {
    auto load = [](const std::string& annotations) {
      return gateway::load_yaml(
          ingress_head + "metadata:\n  name: m\n  annotations:\n" + annotations +
              "spec:\n  rules:\n  - host: m.test\n    http:\n      paths:\n      - {path: /, "
              "pathType: Prefix, backend: {service: {name: up, port: {number: 80}}}}\n" +
              service_yaml("up", 1),
          "m.yaml");
    };
    CHECK_THROWS_WITH_AS(
        load("    nginx.ingress.kubernetes.io/permanent-redirect: https://n.test/\n"
             "    nginx.ingress.kubernetes.io/permanent-redirect-code: \"200\"\n"),
        doctest::Contains("not a redirect status"), gateway::error);
    auto cfg = load("    nginx.ingress.kubernetes.io/permanent-redirect-code: \"308\"\n");
    bool warned = false;
    for (const auto& w : cfg.warnings)
      warned = warned || w.find("no effect without") != std::string::npos;
    CHECK(warned);
  }

  TEST_CASE("an Ingress wildcard host covers exactly one label") {
    test_upstream wild(named("wild")), fallback(named("fallback"));
    auto cfg = load_on_loopback(ingress_head + R"(metadata: {name: wild}
spec:
  defaultBackend: {service: {name: fallback, port: {number: 80}}}
  rules:
  - host: "*.wild.test"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: wild, port: {number: 80}}}}
)" + service_yaml("wild", wild.port()) +
                                service_yaml("fallback", fallback.port()));
    running_gateway gw(cfg);
    CHECK(get(gw.port(), "a.wild.test", "/").body.starts_with("wild"));
    CHECK(get(gw.port(), "A.Wild.test:80", "/").body.starts_with("wild"));
    CHECK(get(gw.port(), "a.b.wild.test", "/").body.starts_with("fallback"));
    CHECK(get(gw.port(), "wild.test", "/").body.starts_with("fallback"));
  }

  TEST_CASE("proxy-body-size, proxy-read-timeout, proxy-connect-timeout") {
    test_upstream slow(named("slow", std::chrono::milliseconds(1500))), up(named("up"));
    auto cfg = load_on_loopback(ingress_head + R"(metadata:
  name: limits
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: 1k
    nginx.ingress.kubernetes.io/proxy-read-timeout: "1"
    nginx.ingress.kubernetes.io/proxy-connect-timeout: 3s
spec:
  rules:
  - http:
      paths:
      - {path: /slow, pathType: Prefix, backend: {service: {name: slow, port: {number: 80}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: up, port: {number: 80}}}}
)" + service_yaml("slow", slow.port()) +
                                service_yaml("up", up.port()));
    bool connect_3s = false;
    for (const auto& c : cfg.clusters)
      connect_3s = connect_3s || (c.name.starts_with("default/up:80") &&
                                  c.connect_timeout == std::chrono::seconds(3));
    CHECK(connect_3s);
    running_gateway gw(cfg);
    CHECK(request(gw.port(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n" +
                                 std::string(2000, 'x'))
              .status == 413);
    CHECK(request(gw.port(),
                  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
                  "Connection: close\r\n\r\n0123456789")
              .status == 200);
    CHECK(get(gw.port(), "a", "/slow").status == 504);
  }

  TEST_CASE("only Ingresses of our class are served, unsupported annotations are reported") {
    test_upstream up(named("up"));
    auto cfg = load_on_loopback(R"(apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: gw
  annotations: {ingressclass.kubernetes.io/is-default-class: "true"}
spec: {controller: gateway.dev/gatewayd}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: other}
spec: {controller: k8s.io/ingress-nginx}
---
)" + ingress_head + R"(metadata:
  name: mine
  annotations: {nginx.ingress.kubernetes.io/configuration-snippet: "more_set_headers x: y;"}
spec:
  rules:
  - host: mine.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: up, port: {number: 80}}}}]}
---
)" + ingress_head + R"(metadata: {name: theirs}
spec:
  ingressClassName: other
  rules:
  - host: theirs.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: up, port: {number: 80}}}}]}
)" + service_yaml("up", up.port()));
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].name == "ingress/gw/http");
    auto has_warning = [&](const char* text) {
      for (const auto& w : cfg.warnings)
        if (w.find(text) != std::string::npos) return true;
      return false;
    };
    CHECK(has_warning("configuration-snippet"));
    CHECK(has_warning("Ingress default/theirs: class 'other'"));
    running_gateway gw(cfg);
    CHECK(get(gw.port(), "mine.example.com", "/").status == 200);
    CHECK(get(gw.port(), "theirs.example.com", "/").status == 404);
  }
}
