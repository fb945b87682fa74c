// Endpoints given by DNS name, resolved by the gateway's own resolver against
// a DNS server the test runs (and a hosts file the test writes).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_dns.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

// An upstream on `address` that answers with its own name.
std::unique_ptr<test_upstream> named_upstream(const std::string& name, const std::string& address,
                                              std::uint16_t port,
                                              std::chrono::milliseconds delay = {}) {
  return std::make_unique<test_upstream>(
      [name, delay](const received_request& r) {
        response_plan p;
        p.body = name;
        if (r.target == "/slow") p.delay = delay;
        return p;
      },
      address, port);
}

// Two upstreams on the same port, one on 127.0.0.1 and one on 127.0.0.2 (a
// DNS answer carries addresses, the port is the config's).
struct upstream_pair {
  std::unique_ptr<test_upstream> one, two;
  std::uint16_t port = 0;
  explicit upstream_pair(std::chrono::milliseconds delay = {}) {
    for (int attempt = 0; attempt < 20 && !two; ++attempt) {
      one = named_upstream("one", "127.0.0.1", 0, delay);
      try {
        two = named_upstream("two", "127.0.0.2", one->port(), delay);
      } catch (const std::exception&) {  // that port is taken on 127.0.0.2: another
      }
    }
    REQUIRE(two);
    port = one->port();
  }
};

gateway::gateway_config dns_config(const std::string& name, std::uint16_t port,
                                   const test_dns_server& dns) {
  auto cfg = proxy_config({});
  auto& c = cfg.clusters[0];
  c.endpoints.push_back({name, port, 1});
  c.dns.resolvers = {dns.address()};
  c.dns.refresh = std::chrono::milliseconds(100);
  c.dns.respect_ttl = false;
  c.dns.hosts_file = "";
  c.dns.timeout = std::chrono::milliseconds(200);
  return cfg;
}

std::map<std::string, int> bodies(std::uint16_t port, int n) {
  std::map<std::string, int> out;
  test_client c(port);
  for (int i = 0; i < n; ++i) {
    if (!c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")) break;
    auto r = c.read_response();
    out[r.status == 200 ? r.body : std::to_string(r.status)]++;
  }
  return out;
}

}  // namespace

TEST_SUITE("upstream dns") {
  TEST_CASE("a DNS name resolves to its addresses and follows them as they change") {
    test_dns_server dns;
    upstream_pair up(800ms);
    dns.set("api.test", {"127.0.0.1"});
    captured_log log;
    auto gw = start_logged(dns_config("api.test", up.port, dns), log, 2);
    // The first lookup is done before the server takes traffic.
    CHECK(bodies(gw->port(), 10)["one"] == 10);
    CHECK(log.has("api.test resolves to 127.0.0.1:" + std::to_string(up.port)));
    // A slow request in flight on the old address survives the change.
    test_client slow(gw->port());
    REQUIRE(slow.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"));
    std::this_thread::sleep_for(100ms);
    dns.set("api.test", {"127.0.0.2"});
    REQUIRE(eventually([&] { return bodies(gw->port(), 1)["two"] == 1; }));
    CHECK(bodies(gw->port(), 10)["two"] == 10);
    auto r = slow.read_response();
    CHECK(r.status == 200);
    CHECK(r.body == "one");
    // Every record is an endpoint.
    dns.set("api.test", {"127.0.0.1", "127.0.0.2"});
    REQUIRE(eventually([&] { return bodies(gw->port(), 2).size() == 2; }));
    auto both = bodies(gw->port(), 20);
    CHECK(both["one"] == 10);
    CHECK(both["two"] == 10);
    CHECK(dns.udp_queries() >= 3);
  }

  TEST_CASE("a name with more addresses than a small Maglev table has slots still serves") {
    test_dns_server dns;
    upstream_pair up;
    dns.set("api.test", {"127.0.0.1", "127.0.0.2", "127.0.0.3"});  // nothing on .3: 503 there
    auto cfg = dns_config("api.test", up.port, dns);
    cfg.clusters[0].load_balancer.policy = gateway::lb_policy::maglev;
    cfg.clusters[0].load_balancer.table_size = 2;  // valid for one configured name
    cfg.clusters[0].load_balancer.hash = {gateway::hash_source::header, "x-k", {}, "/"};
    captured_log log;
    auto gw = start_logged(cfg, log, 2);
    std::map<std::string, int> seen;
    for (int k = 0; k < 60; ++k) {
      auto r = request(gw->port(),
                       "GET / HTTP/1.1\r\nHost: a\r\nx-k: " + std::to_string(k) + "\r\n\r\n");
      seen[r.status == 200 ? r.body : std::to_string(r.status)]++;
    }
    CHECK(seen["one"] + seen["two"] + seen["503"] == 60);  // every request answered
    CHECK(seen["one"] + seen["two"] > 0);
  }

  TEST_CASE("a failed refresh keeps the addresses the name had, and says so") {
    test_dns_server dns;
    upstream_pair up;
    dns.set("api.test", {"127.0.0.1"});
    captured_log log;
    auto gw = start_logged(dns_config("api.test", up.port, dns), log, 2);
    CHECK(bodies(gw->port(), 5)["one"] == 5);
    SUBCASE("the nameserver stops answering") {
      dns.silent(true);
      REQUIRE(eventually([&] { return log.has("DNS lookup of api.test failed (timed out"); }));
    }
    SUBCASE("the name stops existing") {
      dns.set("other.test", {});
      dns.set("api.test", {});
      REQUIRE(
          eventually([&] { return log.has("DNS lookup of api.test failed (no address records"); }));
    }
    CHECK(log.has("1 addresses kept"));
    CHECK(bodies(gw->port(), 5)["one"] == 5);
  }

  TEST_CASE("a truncated answer is asked again over TCP") {
    test_dns_server dns;
    upstream_pair up;
    dns.set("api.test", {"127.0.0.2"});
    dns.truncate_udp(true);
    captured_log log;
    auto gw = start_logged(dns_config("api.test", up.port, dns), log, 2);
    CHECK(bodies(gw->port(), 5)["two"] == 5);
    CHECK(dns.tcp_queries() >= 1);
  }

  TEST_CASE("a hosts file answers before DNS") {
    test_dns_server dns;
    upstream_pair up;
    char path[] = "/tmp/gateway-hosts-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    {
      std::ofstream hosts(path);
      hosts << "# test hosts\n127.0.0.2   svc.local.test  svc\n";
    }
    auto cfg = dns_config("SVC.local.test.", up.port, dns);  // any case, trailing dot
    cfg.clusters[0].dns.hosts_file = path;
    captured_log log;
    auto gw = start_logged(cfg, log, 2);
    CHECK(bodies(gw->port(), 5)["two"] == 5);
    CHECK(dns.udp_queries() == 0);
    std::remove(path);
  }

  TEST_CASE("a name that does not resolve gives 503 while the rest keeps serving") {
    test_dns_server dns;
    dns.silent(true);
    test_upstream plain;
    auto cfg = dns_config("nowhere.test", 80, dns);
    // A lookup takes 20 s to fail: a worker that waited for one would leave the
    // client (10 s deadline) without an answer.
    cfg.clusters[0].dns.timeout = std::chrono::seconds(20);
    cfg.clusters.push_back(cluster("plain", {plain.port()}));
    gateway::route_rule ok;
    ok.matches.push_back({{gateway::path_match_type::prefix, "/ok"}, {}, {}, {}});
    ok.backends.push_back({"plain", 1});
    cfg.listeners[0].routes[0].rules.insert(cfg.listeners[0].routes[0].rules.begin(), ok);
    captured_log log;
    auto gw = start_logged(cfg, log, 2);
    // Start stopped waiting for the first lookup before it ended.
    CHECK(log.has("first lookups still unanswered after 5 s; serving"));
    auto r = request(gw->port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(r.status == 503);
    CHECK(r.body == "no healthy upstream\n");
    // Lookups keep timing out on the monitor thread; the workers never wait for them.
    for (int i = 0; i < 20; ++i)
      CHECK(request(gw->port(), "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").status == 200);
  }

  TEST_CASE("YAML: a Backend with an fqdn endpoint and the policy's resolver") {
    test_dns_server dns;
    upstream_pair up;
    dns.set("backend.test", {"127.0.0.2"});
    const std::string yaml = gateway_yaml + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: ext}
spec:
  endpoints: [{fqdn: {hostname: backend.test, port: )" +
                             std::to_string(up.port) + R"(}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: web}]
  rules:
  - backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: ext}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: dns}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  dns: {dnsRefreshRate: 1s, lookupFamily: IPv4, resolvers: [")" +
                             dns.address() + R"("], hostsFile: ""}
)";
    auto cfg = load_on_loopback(yaml);
    REQUIRE(cfg.clusters.size() == 1);
    CHECK(cfg.clusters[0].name == "Backend default/ext@default/dns");
    captured_log log;
    auto gw = start_logged(cfg, log, 2);
    CHECK(bodies(gw->port(), 5)["two"] == 5);
  }
}
