// Several listeners on one address and port (Gateway API listeners on port 80
// told apart by hostname): one socket, the listener chosen per request by Host.
#include <doctest/doctest.h>

#include <gateway/error.hpp>

#include <array>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

handler answer(std::string body) {
  return [body = std::move(body)](const received_request&) {
    response_plan p;
    p.body = body;
    return p;
  };
}

gateway::listener_config listener(const std::string& name, const std::string& hostname,
                                  std::uint16_t bind_port, const std::string& cluster) {
  gateway::listener_config l = proxy_config({1}).listeners.front();
  l.name = name;
  l.hostname = hostname;
  l.bind_port = bind_port;
  l.routes.front().rules.front().backends.front().cluster = cluster;
  return l;
}

client_response get(std::uint16_t port, const std::string& host) {
  return request(port, "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n");
}

}  // namespace

TEST_SUITE("listeners") {
  TEST_CASE("listeners sharing a port are chosen by hostname, most specific first") {
    test_upstream exact(answer("exact")), wild(answer("wildcard")), any(answer("any"));
    running_gateway gw(proxy_config({any.port()}), 2);
    // A port this test picked (0 -> the kernel's choice), shared by three listeners.
    const std::uint16_t port = gw.port();

    gateway::gateway_config cfg;
    cfg.clusters = {cluster("exact", {exact.port()}), cluster("wild", {wild.port()}),
                    cluster("any", {any.port()})};
    cfg.listeners = {listener("catch-all", "", port, "any"),
                     listener("wildcard", "*.example.com", port, "wild"),
                     listener("exact", "api.example.com", port, "exact")};
    gw.server().reload(cfg);
    CHECK(gw.server().port("exact") == port);
    CHECK(gw.server().port("catch-all") == port);

    for (int i = 0; i < 20; ++i) {  // every connection, whichever worker takes it
      CHECK(get(port, "api.example.com").body == "exact");
      CHECK(get(port, "API.Example.com:80").body == "exact");
      CHECK(get(port, "www.example.com").body == "wildcard");
      CHECK(get(port, "a.b.example.com").body == "wildcard");
      CHECK(get(port, "example.com").body == "any");
      CHECK(get(port, "other.org").body == "any");
    }

    SUBCASE("without a catch-all, an unmatched host is a 404") {
      cfg.listeners.erase(cfg.listeners.begin());
      gw.server().reload(cfg);
      CHECK(get(port, "other.org").status == 404);
      CHECK(get(port, "www.example.com").body == "wildcard");
    }
  }

  TEST_CASE(
      "the server and evaluate and explain_waf choose one listener whatever the declared order") {
    test_upstream exact(answer("exact")), wild(answer("wildcard")), any(answer("any"));
    running_gateway gw(proxy_config({any.port()}));
    const std::uint16_t port = gw.port();
    const std::vector<std::vector<std::string>> orders = {{"wildcard", "exact", "catch-all"},
                                                          {"catch-all", "wildcard", "exact"},
                                                          {"exact", "catch-all", "wildcard"}};
    for (const auto& order : orders) {
      CAPTURE(order.front());
      gateway::gateway_config cfg;
      cfg.clusters = {cluster("exact", {exact.port()}), cluster("wild", {wild.port()}),
                      cluster("any", {any.port()})};
      for (const std::string& name : order)
        cfg.listeners.push_back(
            name == "exact"      ? listener("exact", "api.example.com", port, "exact")
            : name == "wildcard" ? listener("wildcard", "*.example.com", port, "wild")
                                 : listener("catch-all", "", port, "any"));
      gw.server().reload(cfg);
      for (const auto& row :
           std::vector<std::array<std::string, 3>>{{"api.example.com", "exact", "exact"},
                                                   {"www.example.com", "wildcard", "wildcard"},
                                                   {"other.org", "catch-all", "any"}}) {
        const std::string& host = row[0];
        const std::string& name = row[1];
        const std::string& body = row[2];
        CAPTURE(host);
        CHECK(get(port, host).body == body);
        gateway::evaluation_request e;
        e.url = "http://" + host + ":" + std::to_string(port) + "/";
        CHECK(gw.server().evaluate(e).listener == name);
        const std::vector<gateway::http::header> fields = {{"host", host}};
        gateway::waf_request w;
        w.headers = fields;
        CHECK(gateway::explain_waf(cfg, w).listener == name);
      }
    }
  }

  TEST_CASE("several Gateways on one port are judged on the addresses their binds give them") {
    test_upstream web(answer("web")), api(answer("api"));
    std::string yaml;
    for (const char* g : {"web", "api"})
      yaml +=
          std::string("---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n") +
          "metadata: {name: " + g + "}\nspec:\n  gatewayClassName: any\n" +
          "  listeners: [{name: http, port: 80, protocol: HTTP}]\n" +
          service_yaml(std::string(g) + "-svc", g == std::string("web") ? web.port() : api.port()) +
          "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: " + g +
          "}\nspec:\n  parentRefs: [{name: " + g + "}]\n  rules:\n  - backendRefs: [{name: " + g +
          "-svc, port: 80}]\n";
    // Both catch-all on port 80: loading is fine, the sockets are not known yet.
    gateway::gateway_config cfg = gateway::load_yaml(yaml, "two.yaml");
    // Left on one address and port, they collide, named so.
    CHECK_THROWS_WITH_AS(gateway::validate(cfg), doctest::Contains("same hostname"),
                         gateway::error);
    // Mapped apart (as gatewayd --bind does) they serve side by side.
    gateway::apply_bind_mappings(cfg, {gateway::parse_bind_mapping("default/web:80=127.0.0.1:0"),
                                       gateway::parse_bind_mapping("default/api:80=127.0.0.1:0")});
    running_gateway gw(cfg);
    CHECK(get(gw.server().port("default/web/http"), "x").body == "web");
    CHECK(get(gw.server().port("default/api/http"), "x").body == "api");
    // One port number on two addresses is two sockets: no collision either.
    auto apart = gateway::load_yaml(yaml, "two.yaml");
    gateway::apply_bind_mappings(apart,
                                 {gateway::parse_bind_mapping("default/web:80=127.0.0.1:8080"),
                                  gateway::parse_bind_mapping("default/api:80=127.0.0.2:8080")});
    CHECK_NOTHROW(gateway::validate(apart));
    gateway::apply_bind_mappings(apart,
                                 {gateway::parse_bind_mapping("default/api:80=127.0.0.1:8080")});
    CHECK_THROWS_WITH_AS(gateway::validate(apart), doctest::Contains("same hostname"),
                         gateway::error);
  }

  TEST_CASE("two listeners with the same port and hostname are an error") {
    test_upstream up(answer("ok"));
    running_gateway gw(proxy_config({up.port()}));
    gateway::gateway_config cfg;
    cfg.clusters = {cluster("up", {up.port()})};
    cfg.listeners = {listener("one", "a.example.com", gw.port(), "up"),
                     listener("two", "a.example.com", gw.port(), "up")};
    std::error_code ec;
    std::string message;
    gw.server().reload(cfg, ec, message);
    CHECK(ec == gateway::errc::invalid_config);
    CHECK(message.find("same hostname") != std::string::npos);
  }

  TEST_CASE("a listener hostname narrows the routes of a config built in code") {
    test_upstream up(answer("ok"));
    gateway::gateway_config cfg = proxy_config({up.port()});
    cfg.listeners.front().hostname = "*.example.com";
    running_gateway gw(cfg);
    CHECK(get(gw.port(), "a.example.com").status == 200);
    CHECK(get(gw.port(), "example.org").status == 404);

    cfg.listeners.front().routes.front().hostnames = {"other.org"};
    CHECK_THROWS_WITH_AS(gateway::server{cfg}, doctest::Contains("within the listener hostname"),
                         gateway::error);
  }
}
