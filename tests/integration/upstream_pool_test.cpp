// The upstream pool in depth, against real upstream servers on loopback: load
// balancing policies, active health checks, outlier ejection, circuit
// breakers and retries.
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

// Upstreams that answer with their own name, so the client sees which one served.
struct named_pool {
  explicit named_pool(std::size_t n,
                      std::function<response_plan(std::size_t, const received_request&)> how = {}) {
    for (std::size_t i = 0; i < n; ++i)
      servers.push_back(std::make_unique<test_upstream>([i, how](const received_request& r) {
        response_plan p = how ? how(i, r) : response_plan{};
        if (p.body.empty() && p.raw.empty()) p.body = std::string(1, static_cast<char>('A' + i));
        p.headers.push_back({"x-served-by", std::string(1, static_cast<char>('A' + i))});
        return p;
      }));
  }
  std::vector<std::uint16_t> ports() const {
    std::vector<std::uint16_t> out;
    for (const auto& s : servers)
      out.push_back(s->port());
    return out;
  }
  std::vector<std::unique_ptr<test_upstream>> servers;
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: a\r\n" + extra + "\r\n";
}

// Who served each of `n` requests on one keep-alive connection.
std::map<std::string, int> served_by(std::uint16_t port, int n, const std::string& extra = "") {
  std::map<std::string, int> counts;
  test_client c(port);
  for (int i = 0; i < n; ++i) {
    if (!c.send(get("/", extra))) break;
    auto r = c.read_response();
    counts[r.status == 200 ? r.header("x-served-by") : std::to_string(r.status)]++;
  }
  return counts;
}

std::string endpoint_series(const std::string& name, const std::string& cluster,
                            std::uint16_t port) {
  return name + "{cluster=\"" + cluster + "\",endpoint=\"127.0.0.1:" + std::to_string(port) + "\"}";
}

gateway::gateway_config pool_config(const named_pool& pool,
                                    std::vector<std::uint32_t> weights = {}) {
  auto cfg = proxy_config(pool.ports());
  for (std::size_t i = 0; i < weights.size(); ++i)
    cfg.clusters[0].endpoints[i].weight = weights[i];
  return cfg;
}

}  // namespace

TEST_SUITE("upstream pool") {
  TEST_CASE("round robin gives each endpoint its weighted share exactly") {
    named_pool pool(3);
    running_gateway gw(pool_config(pool, {3, 1, 1}));
    auto counts = served_by(gw.port(), 500);
    CHECK(counts["A"] == 300);
    CHECK(counts["B"] == 100);
    CHECK(counts["C"] == 100);
  }

  TEST_CASE("random follows the weights within statistical bounds") {
    named_pool pool(2);
    auto cfg = pool_config(pool, {3, 1});
    cfg.clusters[0].load_balancer.policy = gateway::lb_policy::random;
    running_gateway gw(cfg);
    auto counts = served_by(gw.port(), 2000);
    // p = 0.75, n = 2000: sd 0.0097; the bounds are five of them.
    CHECK(counts["A"] + counts["B"] == 2000);
    CHECK(counts["A"] >= 1400);
    CHECK(counts["A"] <= 1600);
  }

  TEST_CASE("least request spreads evenly and avoids an endpoint that holds requests") {
    named_pool even(4);
    auto cfg = pool_config(even);
    cfg.clusters[0].load_balancer.policy = gateway::lb_policy::least_request;
    {
      running_gateway gw(cfg);
      auto counts = served_by(gw.port(), 2000);
      for (const char* name : {"A", "B", "C", "D"}) {  // p = 0.25: sd 0.0097, bounds 5 sd
        CHECK(counts[name] >= 400);
        CHECK(counts[name] <= 600);
      }
    }
    // D answers after 100 ms; 8 clients keep requests in flight: the two
    // choices almost never favour the endpoint that holds one already.
    named_pool slow(4, [](std::size_t i, const received_request&) {
      response_plan p;
      if (i == 3) p.delay = 100ms;
      return p;
    });
    auto slow_cfg = pool_config(slow);
    slow_cfg.clusters[0].load_balancer.policy = gateway::lb_policy::least_request;
    running_gateway gw(slow_cfg, 2);
    std::atomic<int> on_slow{0}, total{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 8; ++t)
      clients.emplace_back([&] {
        auto counts = served_by(gw.port(), 50);
        on_slow += counts["D"];
        for (const auto& [k, v] : counts)
          total += v;
      });
    for (auto& c : clients)
      c.join();
    CHECK(total.load() == 400);
    CHECK(on_slow.load() <= 40);  // round robin would give it 100
  }

  TEST_CASE(
      "consistent hashing keeps at least 70 percent of keys when one of four endpoints leaves") {
    for (auto policy : {gateway::lb_policy::maglev, gateway::lb_policy::ring_hash}) {
      CAPTURE(static_cast<int>(policy));
      named_pool pool(4);
      auto cfg = pool_config(pool);
      cfg.clusters[0].load_balancer.policy = policy;
      cfg.clusters[0].load_balancer.hash = {gateway::hash_source::header, "x-user", {}, "/"};
      running_gateway gw(cfg);
      constexpr int keys = 2000;
      auto assign = [&] {
        std::vector<std::string> where(keys);
        test_client c(gw.port());
        for (int k = 0; k < keys; ++k) {
          REQUIRE(c.send(get("/", "x-user: user-" + std::to_string(k) + "\r\n")));
          where[static_cast<std::size_t>(k)] = c.read_response().header("x-served-by");
        }
        return where;
      };
      auto before = assign();
      CHECK(assign() == before);  // stable while the endpoints stay
      std::map<std::string, int> spread;
      for (const auto& w : before)
        spread[w]++;
      CHECK(spread.size() == 4);
      for (const auto& [name, n] : spread)
        CHECK(n >= 300);  // about 500 each
      // Endpoint D leaves the cluster (a reload with three endpoints).
      auto fewer = cfg;
      fewer.clusters[0].endpoints.pop_back();
      gw.server().reload(fewer);
      auto after = assign();
      int kept = 0, moved_from_others = 0;
      for (int k = 0; k < keys; ++k) {
        const auto i = static_cast<std::size_t>(k);
        if (after[i] == before[i])
          ++kept;
        else if (before[i] != "D")
          ++moved_from_others;
        CHECK(after[i] != "D");
      }
      CHECK(kept * 100 >= keys * 70);
      CHECK(moved_from_others * 100 <= keys * 5);  // only D's keys should move
    }
  }

  TEST_CASE("a cookie hash sticks a client to one endpoint and hands out the cookie") {
    named_pool pool(4);
    auto cfg = pool_config(pool);
    cfg.clusters[0].load_balancer.policy = gateway::lb_policy::ring_hash;
    cfg.clusters[0].load_balancer.hash = {gateway::hash_source::cookie, "sticky",
                                          std::chrono::seconds(3600), "/"};
    running_gateway gw(cfg);
    std::set<std::string> first_endpoints;
    for (int client = 0; client < 12; ++client) {
      auto r = request(gw.port(), get("/"));
      REQUIRE(r.status == 200);
      const std::string cookie = r.header("set-cookie");
      REQUIRE(cookie.rfind("sticky=", 0) == 0);
      CHECK(cookie.find("Max-Age=3600") != std::string::npos);
      const std::string pair = cookie.substr(0, cookie.find(';'));
      const std::string first = r.header("x-served-by");
      first_endpoints.insert(first);
      auto counts = served_by(gw.port(), 20, "cookie: other=1; " + pair + "\r\n");
      CHECK(counts[first] == 20);
      // With the cookie, no new one is handed out.
      CHECK(request(gw.port(), get("/", "cookie: " + pair + "\r\n")).header("set-cookie").empty());
    }
    CHECK(first_endpoints.size() >= 2);  // twelve clients do not all land on one
  }

  TEST_CASE("a source IP hash sends one client to one endpoint") {
    named_pool pool(4);
    auto cfg = pool_config(pool);
    cfg.clusters[0].load_balancer.policy = gateway::lb_policy::maglev;
    cfg.clusters[0].load_balancer.hash.source = gateway::hash_source::source_ip;
    running_gateway gw(cfg);
    // Eight clients (loopback source addresses), each on a new connection per
    // request: each client keeps its endpoint, and the clients spread out.
    std::set<std::string> endpoints;
    for (int client = 2; client < 10; ++client) {
      const std::string source = "127.0.0." + std::to_string(client);
      CAPTURE(source);
      std::set<std::string> seen;
      for (int i = 0; i < 6; ++i) {
        test_client c(gw.port(), source);
        REQUIRE(c.connected());
        REQUIRE(c.send(get("/")));
        auto r = c.read_response();
        REQUIRE(r.status == 200);
        seen.insert(r.header("x-served-by"));
      }
      CHECK(seen.size() == 1);
      endpoints.insert(seen.begin(), seen.end());
    }
    CHECK(endpoints.size() >= 2);
  }

  TEST_CASE("slow start ramps a returning endpoint up instead of giving it its full share") {
    std::atomic<bool> b_fails{true};
    named_pool pool(2, [&](std::size_t i, const received_request& r) {
      response_plan p;
      if (i == 1 && r.target == "/healthz" && b_fails) p.status = 503;
      return p;
    });
    auto cfg = pool_config(pool);
    auto& c = cfg.clusters[0];
    c.load_balancer.slow_start = 4s;
    c.load_balancer.slow_start_min_percent = 10;
    c.load_balancer.panic_threshold_percent = 0;
    c.health_check.type = gateway::health_check_type::http;
    c.health_check.path = "/healthz";
    c.health_check.interval = 50ms;
    c.health_check.unhealthy_threshold = 1;
    c.health_check.healthy_threshold = 1;
    running_gateway gw(cfg);
    const auto healthy_b =
        endpoint_series("gateway_upstream_endpoint_healthy", "up", pool.ports()[1]);
    REQUIRE(eventually([&] { return metric(gw.server(), healthy_b) == 0; }));
    b_fails = false;
    REQUIRE(eventually([&] { return metric(gw.server(), healthy_b) == 1; }));
    // Just back: B's weight is about 10% of A's, not equal.
    auto counts = served_by(gw.port(), 300);
    CHECK(counts["B"] >= 5);
    CHECK(counts["B"] <= 90);  // full weight would be 150
  }

  TEST_CASE(
      "an HTTP health check marks an endpoint down after N failures and up after M successes") {
    std::atomic<bool> sick{false};
    std::atomic<int> failed_probes{0}, ok_probes{0};
    named_pool pool(3, [&](std::size_t i, const received_request& r) {
      response_plan p;
      if (r.target == "/healthz" && i == 2) {
        if (sick) {
          p.status = 500;
          ++failed_probes;
        } else {
          ++ok_probes;
        }
      }
      return p;
    });
    auto cfg = pool_config(pool);
    auto& hc = cfg.clusters[0].health_check;
    hc.type = gateway::health_check_type::http;
    hc.path = "/healthz";
    hc.interval = 50ms;
    hc.unhealthy_threshold = 3;
    hc.healthy_threshold = 2;
    running_gateway gw(cfg, 2);
    const auto series = endpoint_series("gateway_upstream_endpoint_healthy", "up", pool.ports()[2]);
    CHECK(metric(gw.server(), series) == 1);
    CHECK(served_by(gw.port(), 30)["C"] == 10);
    sick = true;
    REQUIRE(eventually([&] { return metric(gw.server(), series) == 0; }));
    CHECK(failed_probes.load() >= 3);
    auto counts = served_by(gw.port(), 40);
    CHECK(counts["C"] == 0);
    CHECK(counts["A"] + counts["B"] == 40);
    ok_probes = 0;
    sick = false;
    REQUIRE(eventually([&] { return metric(gw.server(), series) == 1; }));
    CHECK(ok_probes.load() >= 2);
    CHECK(served_by(gw.port(), 30)["C"] == 10);
    // One probe stream per endpoint for the process, not one per worker: 50 ms
    // apart is at most about 20 probes in a second.
    const int before = ok_probes.load();
    std::this_thread::sleep_for(1s);
    CHECK(ok_probes.load() - before <= 24);
    CHECK(
        metric(gw.server(), endpoint_series("gateway_upstream_endpoint_health_check_failures_total",
                                            "up", pool.ports()[2])) >= 3);
  }

  TEST_CASE("a TCP health check takes down an endpoint that stops listening") {
    named_pool pool(2);
    auto cfg = pool_config(pool);
    auto& hc = cfg.clusters[0].health_check;
    hc.type = gateway::health_check_type::tcp;
    hc.interval = 50ms;
    hc.unhealthy_threshold = 2;
    running_gateway gw(cfg);
    const auto series = endpoint_series("gateway_upstream_endpoint_healthy", "up", pool.ports()[1]);
    CHECK(metric(gw.server(), series) == 1);
    pool.servers[1]->stop_listening();
    REQUIRE(eventually([&] { return metric(gw.server(), series) == 0; }));
    CHECK(served_by(gw.port(), 20)["A"] == 20);
  }

  TEST_CASE("below the panic threshold every endpoint is used again") {
    named_pool pool(2, [](std::size_t, const received_request& r) {
      response_plan p;
      if (r.target == "/healthz") p.status = 503;  // both fail their checks
      return p;
    });
    auto cfg = pool_config(pool);
    auto& hc = cfg.clusters[0].health_check;
    hc.type = gateway::health_check_type::http;
    hc.path = "/healthz";
    hc.interval = 50ms;
    hc.unhealthy_threshold = 1;
    SUBCASE("panic at 50 percent (the default): traffic flows to both") {
      running_gateway gw(cfg);
      REQUIRE(eventually(
          [&] { return metric(gw.server(), "gateway_upstream_panic{cluster=\"up\"}") == 1; }));
      auto counts = served_by(gw.port(), 20);
      CHECK(counts["A"] == 10);
      CHECK(counts["B"] == 10);
    }
    SUBCASE("no panic threshold: 503 no healthy upstream") {
      cfg.clusters[0].load_balancer.panic_threshold_percent = 0;
      running_gateway gw(cfg);
      const auto series =
          endpoint_series("gateway_upstream_endpoint_healthy", "up", pool.ports()[1]);
      REQUIRE(eventually([&] {
        return metric(gw.server(), series) == 0 &&
               metric(gw.server(), endpoint_series("gateway_upstream_endpoint_healthy", "up",
                                                   pool.ports()[0])) == 0;
      }));
      auto r = request(gw.port(), get("/"));
      CHECK(r.status == 503);
      CHECK(r.body == "no healthy upstream\n");
    }
  }

  TEST_CASE("an endpoint answering 5xx is ejected, then comes back after the ejection time") {
    std::atomic<bool> broken{true};
    named_pool pool(2, [&](std::size_t i, const received_request&) {
      response_plan p;
      if (i == 1 && broken) p.status = 500;
      return p;
    });
    auto cfg = pool_config(pool);
    auto& od = cfg.clusters[0].outlier_detection;
    od.consecutive_5xx = 3;
    od.base_ejection_time = 600ms;
    od.max_ejection_percent = 50;
    running_gateway gw(cfg);
    // Round robin: B sees every second request; its third 500 ejects it.
    auto counts = served_by(gw.port(), 6);
    CHECK(counts["500"] == 3);
    const auto ejected =
        endpoint_series("gateway_upstream_endpoint_ejected", "up", pool.ports()[1]);
    CHECK(metric(gw.server(), ejected) == 1);
    counts = served_by(gw.port(), 30);
    CHECK(counts["A"] == 30);
    CHECK(metric(gw.server(), endpoint_series("gateway_upstream_endpoint_ejections_total", "up",
                                              pool.ports()[1])) == 1);
    broken = false;
    REQUIRE(eventually([&] { return metric(gw.server(), ejected) == 0; }));
    counts = served_by(gw.port(), 20);
    CHECK(counts["B"] == 10);
  }

  TEST_CASE("gateway errors and connect failures eject, and never more than max ejection percent") {
    std::uint16_t dead;
    {
      test_upstream gone;
      dead = gone.port();
    }
    named_pool pool(3, [](std::size_t i, const received_request&) {
      response_plan p;
      if (i == 1) p.status = 503;
      return p;
    });
    auto cfg = pool_config(pool);
    cfg.clusters[0].endpoints.push_back({"127.0.0.1", dead, 1});
    auto& od = cfg.clusters[0].outlier_detection;
    od.consecutive_gateway_errors = 2;
    od.base_ejection_time = 30s;
    od.max_ejection_percent = 25;  // one of four
    running_gateway gw(cfg);
    served_by(gw.port(), 40);
    const long long b = metric(
        gw.server(), endpoint_series("gateway_upstream_endpoint_ejected", "up", pool.ports()[1]));
    const long long d =
        metric(gw.server(), endpoint_series("gateway_upstream_endpoint_ejected", "up", dead));
    CHECK(b + d == 1);  // both qualify; the percentage lets one go
  }

  TEST_CASE("circuit breakers: over max requests or pending, 503 with x-gateway-overflow") {
    named_pool pool(1, [](std::size_t, const received_request&) {
      response_plan p;
      p.delay = 400ms;
      return p;
    });
    auto cfg = pool_config(pool);
    SUBCASE("max requests") {
      cfg.clusters[0].circuit_breakers.max_requests = 1;
    }
    SUBCASE("max connections with no room to wait") {
      cfg.clusters[0].circuit_breakers.max_connections = 1;
      cfg.clusters[0].circuit_breakers.max_pending_requests = 0;
    }
    const bool by_requests = cfg.clusters[0].circuit_breakers.max_requests == 1;
    // Two workers share the request count. Connections are counted across
    // workers too, but an idle one kept by the other worker would hold the
    // only slot, so that case runs on one.
    running_gateway gw(cfg, by_requests ? 2 : 1);
    test_client first(gw.port());
    REQUIRE(first.send(get("/")));
    std::this_thread::sleep_for(100ms);  // the first is in flight
    auto second = request(gw.port(), get("/"));
    CHECK(second.status == 503);
    CHECK(second.header("x-gateway-overflow") == (by_requests ? "requests" : "pending"));
    CHECK(first.read_response().status == 200);
    CHECK(
        metric(gw.server(), std::string("gateway_upstream_overflow_total{cluster=\"up\",limit=\"") +
                                (by_requests ? "requests" : "pending") + "\"}") == 1);
    CHECK(request(gw.port(), get("/")).status == 200);  // room again
  }

  TEST_CASE("the connections of a burst stay pooled for the next one, beyond a hundred") {
    // The upstream holds every request until all of a burst are in, so the
    // gateway's one worker has that many upstream connections open at once.
    constexpr int burst = 150;
    std::mutex m;
    std::condition_variable all_in;
    int arrived = 0;
    named_pool pool(1, [&](std::size_t, const received_request&) {
      std::unique_lock lock(m);
      const int round_end = (arrived / burst + 1) * burst;
      ++arrived;
      all_in.notify_all();
      all_in.wait_for(lock, 20s, [&] { return arrived >= round_end; });
      return response_plan{};
    });
    running_gateway gw(pool_config(pool));
    for (int round = 0; round < 2; ++round) {
      std::vector<std::thread> clients;
      std::atomic<int> ok{0};
      for (int i = 0; i < burst; ++i)
        clients.emplace_back([&] {
          test_client c(gw.port());
          if (c.send(get("/")) && c.read_response().status == 200) ++ok;
        });
      for (auto& t : clients)
        t.join();
      CHECK(ok == burst);
    }
    // The second burst found the first one's connections waiting: no new ones
    // (with 64 idle connections kept, as before, 86 were opened again).
    CHECK(pool.servers[0]->connections() == burst);
  }

  TEST_CASE("with no idle connections kept, each request opens its own") {
    named_pool pool(1);
    auto cfg = pool_config(pool);
    cfg.clusters[0].max_idle_per_endpoint = 0;
    running_gateway gw(cfg);
    CHECK(served_by(gw.port(), 3)["A"] == 3);
    CHECK(pool.servers[0]->connections() == 3);
  }

  TEST_CASE("a request waits for a connection while pending is allowed") {
    named_pool pool(1, [](std::size_t, const received_request&) {
      response_plan p;
      p.delay = 150ms;
      return p;
    });
    auto cfg = pool_config(pool);
    cfg.clusters[0].circuit_breakers.max_connections = 1;
    cfg.clusters[0].circuit_breakers.max_pending_requests = 10;
    running_gateway gw(cfg);
    test_client a(gw.port()), b(gw.port());
    REQUIRE(a.send(get("/")));
    std::this_thread::sleep_for(50ms);
    REQUIRE(b.send(get("/")));
    CHECK(a.read_response().status == 200);
    CHECK(b.read_response().status == 200);  // got the connection once a was done
    CHECK(pool.servers[0]->connections() == 1);
  }

  TEST_CASE("an idle connection to another endpoint gives its room to a request at the limit") {
    // One connection allowed: A's stays pooled after the first request, and
    // round robin sends the second to B. Without closing A's, the second
    // would wait for room until its connect timeout and fail.
    named_pool pool(2);
    auto cfg = pool_config(pool);
    cfg.clusters[0].circuit_breakers.max_connections = 1;
    cfg.clusters[0].connect_timeout = 5s;
    running_gateway gw(cfg);
    test_client c(gw.port());
    for (const char* who : {"A", "B", "A"}) {
      REQUIRE(c.send(get("/")));
      auto r = c.read_response();
      CHECK(r.status == 200);
      CHECK(r.header("x-served-by") == who);
    }
    CHECK(metric(gw.server(), "gateway_upstream_idle_shed_total{cluster=\"up\"}") == 2);
    CHECK(metric(gw.server(),
                 "gateway_upstream_overflow_total{cluster=\"up\",limit=\"connections\"}") == 0);
  }

  TEST_CASE(
      "a worker's idle connections give their room to another worker's request at the limit") {
    // Two workers, one upstream connection allowed. Each request comes on a
    // new client connection, so they spread over both workers; a worker
    // whose turn comes while the other holds the idle connection needs that
    // one closed for it.
    named_pool pool(1);
    auto cfg = pool_config(pool);
    cfg.clusters[0].circuit_breakers.max_connections = 1;
    cfg.clusters[0].connect_timeout = 5s;
    running_gateway gw(cfg, 2);
    int ok = 0;
    for (int i = 0; i < 12; ++i)
      ok += request(gw.port(), get("/")).status == 200;
    CHECK(ok == 12);
    CHECK(metric(gw.server(),
                 "gateway_upstream_overflow_total{cluster=\"up\",limit=\"connections\"}") == 0);
    // Each new upstream connection after the first took the room of one closed while idle.
    CHECK(metric(gw.server(), "gateway_upstream_idle_shed_total{cluster=\"up\"}") ==
          pool.servers[0]->connections() - 1);
  }

  TEST_CASE("retries recover from a failing endpoint on another one") {
    named_pool pool(2, [](std::size_t i, const received_request&) {
      response_plan p;
      if (i == 0) p.status = 503;
      return p;
    });
    auto cfg = pool_config(pool);
    gateway::retry_policy retry;
    retry.attempts = 1;
    retry.codes = {503};
    retry.backoff = 1ms;
    cfg.listeners[0].routes[0].rules[0].retry = retry;
    running_gateway gw(cfg);
    auto counts = served_by(gw.port(), 20);
    // Round robin sends every first try to A; each retry avoids A.
    CHECK(counts["B"] == 20);
    CHECK(metric(gw.server(), "gateway_upstream_retries_total{cluster=\"up\"}") == 20);
  }

  TEST_CASE("a per-try timeout moves a hanging request to another endpoint in time") {
    named_pool pool(2, [](std::size_t i, const received_request&) {
      response_plan p;
      if (i == 0) p.delay = 3s;
      return p;
    });
    auto cfg = pool_config(pool);
    gateway::retry_policy retry;
    retry.attempts = 1;
    retry.per_try_timeout = 200ms;
    retry.backoff = 1ms;
    cfg.listeners[0].routes[0].rules[0].retry = retry;
    running_gateway gw(cfg);
    for (int i = 0; i < 2; ++i) {  // round robin: every first try goes to A
      // A would answer after 3 s; B's answer means the per-try timeout moved it.
      auto r = request(gw.port(), get("/"));
      CHECK(r.status == 200);
      CHECK(r.header("x-served-by") == "B");
    }
  }

  TEST_CASE("the retry limits refuse retries beyond max retries or the budget") {
    named_pool pool(2, [](std::size_t, const received_request&) {
      response_plan p;
      p.status = 503;
      return p;
    });
    auto cfg = pool_config(pool);
    gateway::retry_policy retry;
    retry.attempts = 2;
    retry.codes = {503};
    retry.backoff = 1ms;
    cfg.listeners[0].routes[0].rules[0].retry = retry;
    SUBCASE("max retries 0") {
      cfg.clusters[0].circuit_breakers.max_retries = 0;
      running_gateway gw(cfg);
      CHECK(request(gw.port(), get("/")).status == 503);
      CHECK(pool.servers[0]->requests() + pool.servers[1]->requests() == 1);
      CHECK(metric(gw.server(),
                   "gateway_upstream_overflow_total{cluster=\"up\",limit=\"retries\"}") == 1);
    }
    SUBCASE("a budget of 20 percent with no minimum") {
      cfg.clusters[0].circuit_breakers.retry_budget_percent = 20;
      cfg.clusters[0].circuit_breakers.retry_budget_min_concurrency = 0;
      running_gateway gw(cfg);
      // One request in flight: 20 percent of it is no retry at all.
      CHECK(request(gw.port(), get("/")).status == 503);
      CHECK(pool.servers[0]->requests() + pool.servers[1]->requests() == 1);
      CHECK(metric(gw.server(),
                   "gateway_upstream_overflow_total{cluster=\"up\",limit=\"retry_budget\"}") == 1);
    }
    SUBCASE("the budget's minimum concurrency allows them") {
      cfg.clusters[0].circuit_breakers.retry_budget_percent = 20;
      cfg.clusters[0].circuit_breakers.retry_budget_min_concurrency = 3;
      running_gateway gw(cfg);
      CHECK(request(gw.port(), get("/")).status == 503);
      CHECK(pool.servers[0]->requests() + pool.servers[1]->requests() == 3);
    }
  }

  TEST_CASE("a reset is retried for GET but not for POST unless POST is listed") {
    named_pool pool(2, [](std::size_t i, const received_request&) {
      response_plan p;
      if (i == 0) p.reset = true;
      return p;
    });
    auto cfg = pool_config(pool);
    gateway::retry_policy retry;
    retry.attempts = 1;
    retry.backoff = 1ms;
    cfg.listeners[0].routes[0].rules[0].retry = retry;
    const std::string post = "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nhello";
    SUBCASE("idempotency by default") {
      running_gateway gw(cfg);
      // Round robin sends every first try to A, which resets; GET goes on to B.
      auto r = request(gw.port(), get("/"));
      CHECK(r.status == 200);
      CHECK(r.header("x-served-by") == "B");
      CHECK(request(gw.port(), get("/")).header("x-served-by") == "B");
      auto p = request(gw.port(), post);  // reset by A, and POST is not retried
      CHECK(p.status == 502);
      CHECK(pool.servers[1]->requests() == 2);
    }
    SUBCASE("POST listed as retriable") {
      cfg.listeners[0].routes[0].rules[0].retry->methods = {"POST"};
      running_gateway gw(cfg);
      auto p = request(gw.port(), post);
      CHECK(p.status == 200);
      CHECK(pool.servers[1]->last().body == "hello");
    }
  }

  TEST_CASE("a body up to the buffer limit is read whole so that a retry can replay it") {
    named_pool pool(2, [](std::size_t i, const received_request&) {
      response_plan p;
      if (i == 0) p.status = 503;
      return p;
    });
    auto cfg = pool_config(pool);
    gateway::retry_policy retry;
    retry.attempts = 1;
    retry.codes = {503};
    retry.backoff = 1ms;
    retry.methods = {"PUT"};
    retry.buffer_limit = 256 * 1024;
    cfg.listeners[0].routes[0].rules[0].retry = retry;
    running_gateway gw(cfg);
    test_client c(gw.port());
    const std::uint64_t size = 200 * 1024;  // larger than what arrives with the head
    REQUIRE(c.send("PUT / HTTP/1.1\r\nHost: a\r\ncontent-length: " + std::to_string(size) +
                   "\r\n\r\n"));
    REQUIRE(c.send_pattern(size));
    auto r = c.read_response();
    CHECK(r.status == 200);
    CHECK(r.header("x-served-by") == "B");
    CHECK(pool.servers[1]->last().digest.matches_pattern_of(size));
  }

  TEST_CASE("an upstream that resets the connection: 502, and other requests keep flowing") {
    test_upstream bad([](const received_request&) {
      response_plan p;
      p.reset = true;
      return p;
    });
    test_upstream good;
    auto cfg = proxy_config({bad.port()});
    cfg.clusters.push_back(cluster("good", {good.port()}));
    gateway::route_rule ok_rule;
    ok_rule.matches.push_back({{gateway::path_match_type::prefix, "/ok"}, {}, {}, {}});
    ok_rule.backends.push_back({"good", 1});
    cfg.listeners[0].routes[0].rules.insert(cfg.listeners[0].routes[0].rules.begin(), ok_rule);
    running_gateway gw(cfg);
    test_client c(gw.port());
    for (int i = 0; i < 5; ++i) {
      REQUIRE(c.send(get("/")));
      CHECK(c.read_response().status == 502);
      REQUIRE(c.send(get("/ok")));
      CHECK(c.read_response().status == 200);
    }
  }
}
