// Path encodings and Host spellings cannot pass a route that denies, an
// allow-list host or a protected route: the gateway normalises the request
// once, and the router, filters, WAF, access log, evaluate and the upstream
// all see that one form. Each case is played on the proxy and through
// evaluate, which must agree.
#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

// Three hosts on one listener: shop.test denies /admin (403 from the
// gateway), allow.test routes only /public, secure.test asks /admin for a key.
std::string routes_yaml(std::uint16_t port, const std::string& client_policy = "") {
  return gateway_yaml + service_yaml("app", port) + R"(---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{name: web}]
  hostnames: [shop.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /admin}}]
    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: deny}}]
  - backendRefs: [{name: app, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: allow}
spec:
  parentRefs: [{name: web}]
  hostnames: [allow.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /public}}]
    backendRefs: [{name: app, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: secure}
spec:
  parentRefs: [{name: web}]
  hostnames: [secure.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs: [{name: app, port: 80}]
    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: key}}]
  - backendRefs: [{name: app, port: 80}]
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: deny}
spec: {type: direct-response, config: {status: 403, body: "denied\n"}}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: key}
spec:
  type: api-key-auth
  config: {credentials: {ops: k1}, extractFrom: [{headers: [x-api-key]}]}
)" + client_policy;
}

std::string client_policy(const std::string& spec_lines) {
  return "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
         "metadata: {name: client}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
         "kind: Gateway, name: web}]\n" +
         spec_lines;
}

struct outcome {
  int status = 0;
  std::string location;
  std::string upstream_target;  // what the upstream got ("" when none)
};

// The request on the wire, and the same through evaluate; CHECKs they agree.
outcome play(running_gateway& gw, test_upstream& up, const std::string& host,
             const std::string& target, const std::string& extra = "") {
  const std::size_t before = up.requests();
  const auto r = request(gw.port(), "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" +
                                        extra + "Connection: close\r\n\r\n");
  outcome o{r.status, r.header("location"), ""};
  if (up.requests() != before) o.upstream_target = up.last().target;
  gateway::evaluation_request e;
  e.url = target;
  e.headers = {{"host", host}};
  if (!extra.empty()) {
    const auto colon = extra.find(':');
    e.headers.push_back(
        {extra.substr(0, colon), extra.substr(colon + 2, extra.size() - colon - 4)});
  }
  const auto ev = gw.server().evaluate(e);
  CHECK(ev.response.has_value() == o.upstream_target.empty());
  if (ev.response) CHECK(ev.response->status == o.status);
  if (ev.upstream) CHECK(ev.upstream->target == o.upstream_target);
  return o;
}

const char* const admin_spellings[] = {
    "/public/%2e%2e/admin",
    "/public/.%2e/admin",
    "/public/%2E./admin",
    "/%61dmin",
    "/%41dmin/../admin",
    "//admin",
    "/./admin",
    "/public/../admin",
};

}  // namespace

TEST_SUITE("request normalization") {
  TEST_CASE("every spelling of /admin meets the deny route, the allow-list and the key") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(routes_yaml(up.port())));
    for (const char* target : admin_spellings) {
      CAPTURE(target);
      CHECK(play(gw, up, "shop.test", target).status == 403);
      // allow.test routes /public only: /admin is no route there.
      CHECK(play(gw, up, "allow.test", target).status == 404);
      CHECK(play(gw, up, "secure.test", target).status == 401);
      const outcome ok = play(gw, up, "secure.test", target, "x-api-key: k1\r\n");
      CHECK(ok.status == 200);
      CHECK(ok.upstream_target == "/admin");  // forwarded as routed
    }
    // Not /admin: a double-encoded dot is data, and the path is case-sensitive.
    for (const char* target : {"/public/%252e%252e/admin", "/public/%2e%2e/Admin", "/%41DMIN"}) {
      CAPTURE(target);
      CHECK(play(gw, up, "shop.test", target).status == 200);
    }
    CHECK(play(gw, up, "shop.test", "/public/%252e%252e/admin").upstream_target ==
          "/public/%252e%252e/admin");
    CHECK(play(gw, up, "shop.test", "/public/%2e%2e/Admin").upstream_target == "/Admin");
    // Ordinary paths are unchanged, queries untouched.
    CHECK(play(gw, up, "allow.test", "/public/a%20b?q=%2e%2e").upstream_target ==
          "/public/a%20b?q=%2e%2e");
    CHECK(play(gw, up, "allow.test", "/public/%7euser").upstream_target == "/public/~user");
  }

  TEST_CASE("escaped slashes: a redirect by default, each escapedSlashesAction as named") {
    test_upstream up(echo);
    const std::string slash = "/public%2F..%2Fadmin";
    {
      running_gateway gw(load_on_loopback(routes_yaml(up.port())));
      const outcome o = play(gw, up, "shop.test", slash);
      CHECK(o.status == 307);
      CHECK(o.location == "/admin");
      CHECK(play(gw, up, "allow.test", slash + "?x=1").location == "/admin?x=1");
      CHECK(up.requests() == 0);
    }
    {
      running_gateway gw(load_on_loopback(routes_yaml(
          up.port(), client_policy("  path: {escapedSlashesAction: RejectRequest}\n"))));
      CHECK(play(gw, up, "shop.test", slash).status == 400);
      CHECK(play(gw, up, "shop.test", "/a%5cb").status == 400);
    }
    {
      running_gateway gw(load_on_loopback(routes_yaml(
          up.port(), client_policy("  path: {escapedSlashesAction: UnescapeAndForward}\n"))));
      CHECK(play(gw, up, "shop.test", slash).status == 403);
      CHECK(play(gw, up, "secure.test", slash).status == 401);
    }
    {
      // Kept escaped, "%2F" is no separator: one segment, never /admin.
      running_gateway gw(load_on_loopback(routes_yaml(
          up.port(), client_policy("  path: {escapedSlashesAction: KeepUnchanged}\n"))));
      CHECK(play(gw, up, "allow.test", slash).status == 404);
      CHECK(play(gw, up, "shop.test", slash).upstream_target == "/public%2F..%2Fadmin");
    }
  }

  TEST_CASE("merging slashes can be turned off, and a fragment or bad escape is a 400") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(
        routes_yaml(up.port(), client_policy("  path: {disableMergeSlashes: true}\n"))));
    CHECK(play(gw, up, "shop.test", "/a//b").upstream_target == "/a//b");
    CHECK(play(gw, up, "shop.test", "/admin#x").status == 400);
    CHECK(play(gw, up, "shop.test", "/a%zz").status == 400);
    CHECK(play(gw, up, "shop.test", "/a%2").status == 400);
    CHECK(up.requests() == 1);
  }

  TEST_CASE("header names with underscores: rejected by default, dropped or passed on request") {
    test_upstream up(echo);
    {
      running_gateway gw(load_on_loopback(routes_yaml(up.port())));
      CHECK(play(gw, up, "shop.test", "/", "content_length: 5\r\n").status == 400);
      CHECK(play(gw, up, "shop.test", "/", "x_api_key: k1\r\n").status == 400);
      CHECK(up.requests() == 0);
    }
    {
      running_gateway gw(load_on_loopback(routes_yaml(
          up.port(), client_policy("  headers: {withUnderscoresAction: DropHeader}\n"))));
      CHECK(play(gw, up, "shop.test", "/", "transfer_encoding: chunked\r\n").status == 200);
      CHECK(up.last().count("transfer_encoding") == 0);
    }
    {
      running_gateway gw(load_on_loopback(
          routes_yaml(up.port(), client_policy("  headers: {withUnderscoresAction: Allow}\n"))));
      CHECK(play(gw, up, "shop.test", "/", "x_tenant: a\r\n").status == 200);
      CHECK(up.last().header("x_tenant") == "a");
    }
    CHECK_THROWS_WITH_AS(
        gateway::load_yaml(
            routes_yaml(1, client_policy("  headers: {withUnderscoresAction: Eat}\n")), "t.yaml"),
        doctest::Contains("withUnderscoresAction"), gateway::error);
  }
}

TEST_SUITE("host integrity") {
  TEST_CASE("an empty Host, a path, spaces, a list, userinfo: 400 and nothing upstream") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(routes_yaml(up.port())));
    for (const char* host :
         {"", "shop.test/admin", "shop test", "allow.test, shop.test", "allow.test,shop.test",
          "u@shop.test", "shop.test:80x", "shop.test:999999", "[::1", "%73hop.test"}) {
      CAPTURE(host);
      CHECK(
          request(gw.port(), std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n").status ==
          400);
    }
    CHECK(
        request(gw.port(), "GET http://a@shop.test/ HTTP/1.1\r\nHost: shop.test\r\n\r\n").status ==
        400);
    CHECK(up.requests() == 0);
    for (const char* host : {"shop.test", "SHOP.test:80", "shop.test.", "[::1]:80", "127.0.0.1"})
      CHECK(
          request(gw.port(), std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n").status !=
          400);
  }

  TEST_CASE("Connection cannot remove Host or Content-Length") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(routes_yaml(up.port())));
    auto r = request(gw.port(),
                     "POST /x HTTP/1.1\r\nHost: shop.test\r\nConnection: Host, Content-Length, "
                     "close\r\nContent-Length: 2\r\n\r\nhi");
    CHECK(r.status == 200);
    CHECK(up.last().header("host") == "shop.test");
    CHECK(up.last().header("content-length") == "2");
    CHECK(up.last().body == "hi");
  }

  TEST_CASE("HTTP/1.0 without Host goes upstream with the authority it was routed on") {
    test_upstream up(echo);
    running_gateway gw(proxy_config({up.port()}));
    auto r = request(gw.port(), "GET /x HTTP/1.0\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(up.last().version == "HTTP/1.1");
    CHECK(up.last().count("host") == 1);
    CHECK(up.last().header("host") == "127.0.0.1:" + std::to_string(gw.port()));
    // With a Host, that one.
    request(gw.port(), "GET /x HTTP/1.0\r\nHost: a.test\r\n\r\n");
    CHECK(up.last().header("host") == "a.test");
    // An absolute-form target's authority replaces the Host field.
    request(gw.port(), "GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n");
    CHECK(up.last().header("host") == "b.test");
    CHECK(up.last().count("host") == 1);
  }

  TEST_CASE("no 100 Continue for an HTTP/1.0 client") {
    test_upstream up(echo);
    running_gateway gw(proxy_config({up.port()}));
    test_client c(gw.port());
    REQUIRE(
        c.send("POST /x HTTP/1.0\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
    // The body comes late, so a gateway that sent 100 would have sent it by
    // then; the first thing back must be the final answer.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(c.send("hi"));
    // Raw bytes: read_response() would skip an interim answer.
    CHECK(c.read_until("\r\n").starts_with("HTTP/1.1 200"));
    CHECK(up.last().body == "hi");
    test_client c11(gw.port());
    REQUIRE(c11.send(
        "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
    CHECK(c11.read_until("\r\n\r\n").starts_with("HTTP/1.1 100 Continue\r\n"));
  }

  TEST_CASE("trailers that must not be trailers are dropped") {
    test_upstream up(echo);
    running_gateway gw(proxy_config({up.port()}));
    auto r = request(gw.port(),
                     "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nhi\r\n0\r\nX-Checksum: 1\r\nContent-Length: 99\r\nHost: evil\r\n"
                     "Authorization: Basic eA==\r\nTransfer-Encoding: gzip\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(up.last().body == "hi");
    CHECK(up.last().trailers == "X-Checksum: 1\r\n");
  }
}
