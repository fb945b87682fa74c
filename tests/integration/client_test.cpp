// gateway::client: a host's calls to Services through the upstream pool,
// against real upstream servers on loopback.
#include <gateway/client.hpp>
#include <gateway/error.hpp>

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "python_server.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

// An upstream that answers with its own name (and 503 while `failing`).
struct named {
  std::string name;
  std::atomic<bool> failing{false};
  std::unique_ptr<test_upstream> server;
  explicit named(std::string n) : name(std::move(n)) {
    server = std::make_unique<test_upstream>([this](const received_request& r) {
      response_plan p;
      p.status = failing.load() ? 503 : 200;
      p.body = name;
      if (r.target == "/slow") p.delay = std::chrono::milliseconds(3000);
      if (r.target == "/big") p.generated_bytes = 4 << 20;
      p.headers.push_back({"x-seen-host", r.header("host")});
      p.headers.push_back({"x-seen-target", r.target});
      p.headers.push_back({"x-seen-body", r.body});
      return p;
    });
  }
  std::uint16_t port() const { return server->port(); }
};

// Service `name` in namespace `ns` with port 8080 ("http"), one EndpointSlice per upstream port.
std::string service(const std::string& name, const std::string& ns,
                    const std::vector<std::uint16_t>& ports) {
  std::string y = "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name +
                  ", namespace: " + ns + "}\nspec: {ports: [{name: http, port: 8080}]}\n";
  for (std::size_t i = 0; i < ports.size(); ++i)
    y += "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
         "-" + std::to_string(i) + ", namespace: " + ns +
         ", labels: {kubernetes.io/service-name: " + name +
         "}}\naddressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]\nports: [{name: http, "
         "port: " +
         std::to_string(ports[i]) + "}]\n";
  return y;
}

gateway::client_request get(std::string url) {
  gateway::client_request r;
  r.url = std::move(url);
  return r;
}

std::string error_of(gateway::client& c, gateway::client_request r, gateway::errc& code) {
  try {
    c.send(std::move(r));
  } catch (const gateway::error& e) {
    code = static_cast<gateway::errc>(e.code().value());
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("client") {
  TEST_CASE("a call to SERVICE.NAMESPACE reaches the Service's endpoints in turn") {
    named a("a"), b("b");
    gateway::client c(gateway::load_client_yaml(service("api", "shop", {a.port(), b.port()})));
    std::map<std::string, int> seen;
    for (int i = 0; i < 10; ++i) {
      auto r = c.send(get("http://api.shop:8080/orders?id=" + std::to_string(i)));
      CHECK(r.status == 200);
      CHECK(r.header("x-seen-target") == "/orders?id=" + std::to_string(i));
      CHECK(r.header("X-SEEN-HOST") == "api.shop:8080");
      seen[r.body]++;
    }
    CHECK(seen["a"] == 5);
    CHECK(seen["b"] == 5);
    // The cluster DNS forms name it too, and a body goes as it is.
    gateway::client_request post = get("http://api.shop.svc.cluster.local:8080/orders");
    post.method = "POST";
    post.body = "{\"item\":7}";
    post.headers.push_back({"content-type", "application/json"});
    auto r = c.send(post);
    CHECK(r.status == 200);
    CHECK(r.header("x-seen-body") == "{\"item\":7}");
    // The calls are the gateway's requests in its metrics.
    const std::string stats = c.stats_text();
    CHECK(stats.find("gateway_upstream_") != std::string::npos);
    CHECK(stats.find("shop/api:8080") != std::string::npos);
  }

  TEST_CASE("a BackendTrafficPolicy on the Service retries a failing endpoint's calls elsewhere") {
    named good("good"), bad("bad");
    bad.failing = true;
    const std::string policy = R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: resilient, namespace: shop}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
  retry:
    numRetries: 2
    retryOn: {triggers: [connect-failure, retriable-status-codes], httpStatusCodes: [503]}
    perRetry: {backOff: {baseInterval: 10ms, maxInterval: 20ms}}
)";
    gateway::client c(
        gateway::load_client_yaml(service("api", "shop", {good.port(), bad.port()}) + policy));
    for (int i = 0; i < 10; ++i) {
      auto r = c.send(get("http://api.shop:8080/"));
      CHECK(r.status == 200);
      CHECK(r.body == "good");
    }
    CHECK(bad.server->requests() >= 4);  // tried, and retried elsewhere
    // Without the policy the failing endpoint's answers reach the caller.
    gateway::client plain(
        gateway::load_client_yaml(service("api", "shop", {good.port(), bad.port()})));
    int failed = 0;
    for (int i = 0; i < 10; ++i)
      failed += plain.send(get("http://api.shop:8080/")).status == 503;
    CHECK(failed == 5);
  }

  TEST_CASE("a dead endpoint is passed over by retries and ejected by outlier detection") {
    named live("live");
    std::uint16_t dead_port = 0;
    {
      test_upstream gone;
      dead_port = gone.port();
    }
    const std::string policy = R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: resilient}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
  retry: {numRetries: 2, retryOn: {triggers: [connect-failure]}}
  healthCheck:
    passive: {consecutiveLocalOriginFailures: 1, splitExternalLocalOriginErrors: true, baseEjectionTime: 60s, maxEjectionPercent: 100}
)";
    gateway::client c(
        gateway::load_client_yaml(service("api", "default", {live.port(), dead_port}) + policy));
    for (int i = 0; i < 20; ++i) {
      auto r = c.send(get("http://api.default:8080/"));
      CHECK(r.status == 200);
      CHECK(r.body == "live");
    }
    CHECK(c.stats_text().find("gateway_upstream_endpoint_ejections_total") != std::string::npos);
  }

  TEST_CASE("an Envoy Gateway Backend is called by name, with its own BackendTrafficPolicy") {
    named good("good"), bad("bad");
    bad.failing = true;
    const std::string yaml = R"(apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: legacy, namespace: ops}
spec:
  endpoints:
  - ip: {address: 127.0.0.1, port: )" +
                             std::to_string(good.port()) +
                             R"(}
  - ip: {address: 127.0.0.1, port: )" +
                             std::to_string(bad.port()) +
                             R"(}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: legacy, namespace: ops}
spec:
  targetRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: legacy}]
  retry: {numRetries: 2, retryOn: {triggers: [retriable-status-codes], httpStatusCodes: [503]}}
)";
    gateway::client c(gateway::load_client_yaml(yaml));
    for (int i = 0; i < 6; ++i) {
      auto r = c.send(get("http://legacy.ops/report"));
      CHECK(r.status == 200);
      CHECK(r.body == "good");
    }
    CHECK(bad.server->requests() >= 2);  // tried in turn, retried on the other
    gateway::errc code{};
    CHECK(error_of(c, get("http://legacy.ops:8080/"), code).find("port 8080") != std::string::npos);
    // A Service and a Backend of one name would both answer to NAME.NAMESPACE.
    try {
      gateway::load_client_yaml(yaml + service("legacy", "ops", {good.port()}), "c.yaml");
      FAIL("a Service and a Backend of one name loaded");
    } catch (const gateway::error& e) {
      CHECK(std::string(e.what()).find("could mean either") != std::string::npos);
    }
  }

  TEST_CASE("bad calls get clear errors and the client keeps serving") {
    named a("a");
    gateway::client c(gateway::load_client_yaml(service("api", "shop", {a.port()})));
    gateway::errc code{};
    std::string why = error_of(c, get("api.shop/"), code);
    CHECK(code == gateway::errc::invalid_argument);
    CHECK(why.find("http://") != std::string::npos);
    why = error_of(c, get("http://api.shop:99999/"), code);
    CHECK(code == gateway::errc::invalid_argument);
    why = error_of(c, get("http://nothing.shop:8080/"), code);
    CHECK(code == gateway::errc::not_found);
    CHECK(why.find("nothing.shop:8080") != std::string::npos);
    CHECK_MESSAGE(why.find("api.shop:8080") != std::string::npos, why);
    why = error_of(c, get("http://api.shop:81/"), code);
    CHECK(code == gateway::errc::not_found);
    CHECK(why.find("port 81") != std::string::npos);
    gateway::client_request bad = get("http://api.shop:8080/");
    bad.headers.push_back({"bad name", "x"});
    why = error_of(c, bad, code);
    CHECK(code == gateway::errc::invalid_argument);
    CHECK(why.find("400") != std::string::npos);
    // A deadline of the call's own: the gateway's 504 when it passes.
    gateway::client_request slow = get("http://api.shop:8080/slow");
    slow.timeout = std::chrono::milliseconds(100);
    CHECK(c.send(slow).status == 504);
    CHECK(c.send(get("http://api.shop:8080/")).status == 200);
    c.close();
    why = error_of(c, get("http://api.shop:8080/"), code);
    CHECK(code == gateway::errc::invalid_state);
  }

  TEST_CASE("a client's config refuses what it cannot use, saying where") {
    auto load_error = [](const std::string& yaml) {
      try {
        gateway::load_client_yaml(yaml, "client.yaml");
      } catch (const gateway::error& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    std::string e = load_error(gateway_yaml);
    CHECK(e.find("client.yaml:2") != std::string::npos);
    CHECK(e.find("a client's config has no Gateway") != std::string::npos);
    e = load_error(service("api", "default", {1234}) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: api}]
)");
    CHECK(e.find("targets Services") != std::string::npos);
    e = load_error(service("api", "default", {1234}) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
  retry: {numRetries: many}
)");
    CHECK(e.find("spec.retry.numRetries") != std::string::npos);
    CHECK(load_error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
              .find("at least one Service") != std::string::npos);
    // A policy for a Service is only a client's.
    try {
      gateway::load_yaml(gateway_yaml + service("api", "default", {1234}) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: p}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
)");
      FAIL("a gateway's BackendTrafficPolicy targeting a Service loaded");
    } catch (const gateway::error& ex) {
      CHECK(std::string(ex.what()).find("a policy targets a Gateway") != std::string::npos);
    }
  }

  TEST_CASE("targets made in code, large bodies streamed, concurrent calls and a reload") {
    named a("a"), b("b");
    gateway::client_target t;
    t.name = "payments";
    t.cluster.endpoints = {{"127.0.0.1", a.port(), 1}};
    gateway::retry_policy retry;
    retry.attempts = 2;
    retry.retry_on.connect_failure = true;
    t.retry = retry;
    gateway::client_options o;
    o.threads = 2;
    gateway::client c(gateway::client_config({t}), o);
    CHECK(c.send(get("http://payments/x")).body == "a");

    // A body handed on piece by piece, never held whole.
    body_digest digest;
    std::size_t pieces = 0;
    gateway::client_request big = get("http://payments/big");
    big.on_body = [&](std::string_view piece) {
      digest.add(piece.data(), piece.size());
      ++pieces;
    };
    auto r = c.send(big);
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(digest.matches_pattern_of(4 << 20));
    CHECK(pieces > 1);

    // Many host threads at once, asynchronous completions too.
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&] {
        for (int k = 0; k < 10; ++k)
          ok += c.send(get("http://payments/")).status == 200;
      });
    for (auto& th : threads)
      th.join();
    CHECK(ok == 80);
    std::mutex m;
    std::condition_variable cv;
    int done = 0, good = 0;
    for (int i = 0; i < 20; ++i)
      c.async_send(get("http://payments/"), [&](gateway::client_result res) {
        std::lock_guard lock(m);
        ++done;
        good += !res.error && res.response.status == 200;
        cv.notify_all();
      });
    {
      std::unique_lock lock(m);
      REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == 20; }));
    }
    CHECK(good == 20);

    // A reload moves the target; the old config kept serving until then.
    t.cluster.endpoints = {{"127.0.0.1", b.port(), 1}};
    c.reload(gateway::client_config({t}));
    CHECK(c.send(get("http://payments/")).body == "b");
    gateway::client_target twice = t;
    CHECK_THROWS_AS(gateway::client_config({t, twice}), gateway::error);
    twice.name = "Bad Name";
    CHECK_THROWS_AS(gateway::client_config({twice}), gateway::error);
  }

  TEST_CASE("upstream faults end a call as they end a proxied request") {
    // The same upstream behind the gateway and behind the client: the status
    // a proxied client gets is the status the client's call gets.
    auto compare = [](test_upstream& up, const std::string& target, int expected) {
      running_gateway gw(proxy_config({up.port()}));
      const int proxied =
          request(gw.port(), "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n").status;
      gateway::client_target t;
      t.name = "up";
      t.cluster = cluster("up", {up.port()});
      gateway::client c(gateway::client_config({t}));
      const int called = c.send(get("http://up" + target)).status;
      CHECK(proxied == expected);
      CHECK(called == expected);
    };
    test_upstream garbage(answer_raw("this is not http\r\n\r\n", true));
    compare(garbage, "/", 502);
    test_upstream silent([](const received_request&) {
      response_plan p;
      p.no_response = true;
      return p;
    });
    compare(silent, "/", 502);
    std::uint16_t dead_port = 0;
    {
      test_upstream gone;
      dead_port = gone.port();
    }
    {
      gateway::client_target t;
      t.name = "down";
      t.cluster = cluster("down", {dead_port});
      gateway::client c(gateway::client_config({t}));
      running_gateway gw(proxy_config({dead_port}));
      CHECK(request(gw.port(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n").status == 503);
      CHECK(c.send(get("http://down/")).status == 503);
    }
    // Cut mid-body: a proxied client sees the connection end; a call, an error.
    test_upstream cut([](const received_request& r) {
      response_plan p;
      if (r.target == "/cut") {
        p.raw = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly-part";
        p.close_after = true;
      } else {
        p.body = "fine";
      }
      return p;
    });
    gateway::client_target t;
    t.name = "cut";
    t.cluster = cluster("cut", {cut.port()});
    gateway::client c(gateway::client_config({t}));
    gateway::errc code{};
    const std::string why = error_of(c, get("http://cut/cut"), code);
    CHECK(code == gateway::errc::unavailable);
    CHECK_MESSAGE(why.find("cut after 9 body bytes") != std::string::npos, why);
    CHECK(c.send(get("http://cut/next")).body == "fine");  // and the client goes on
  }

  TEST_CASE("calls to an mTLS upstream and to an h2c Service go as the gateway sends them") {
    // TLS with the client's certificate, verified against the CA and name.
    test_pki pki;
    test_tls_upstream secure(pki, true);
    gateway::client_target t;
    t.name = "secure";
    t.cluster = cluster("secure", {secure.port()});
    t.cluster.tls.enabled = true;
    t.cluster.tls.ca_pem = pki.read("ca.crt");
    t.cluster.tls.sni = "upstream.test";
    t.cluster.tls.client_cert_pem = pki.read("client.crt");
    t.cluster.tls.client_key_pem = pki.read("client.key");
    gateway::client c(gateway::client_config({t}));
    for (int i = 0; i < 3; ++i) {
      auto r = c.send(get("https://secure:80/"));
      CHECK(r.status == 200);
      CHECK(r.body == "tls ok, client /CN=gateway-client");
    }
    CHECK(secure.last_sni() == "upstream.test");

    // A Service port that speaks h2c (appProtocol), by cluster DNS name.
    python_server h2("h2_upstream.py", {"echo"});
    std::string yaml = service("grpcish", "default", {h2.port()});
    const std::string plain = "{name: http, port: 8080}";
    yaml.replace(yaml.find(plain), plain.size(),
                 "{name: http, port: 8080, appProtocol: kubernetes.io/h2c}");
    gateway::client h2c(gateway::load_client_yaml(yaml));
    gateway::client_request post = get("http://grpcish.default.svc.cluster.local:8080/echo?x=1");
    post.method = "POST";
    post.body = "over h2";
    auto r = h2c.send(post);
    CHECK(r.status == 200);
    CAPTURE(r.body);
    CHECK(r.body.find("\"method\": \"POST\"") != std::string::npos);
    CHECK(r.body.find("\"path\": \"/echo?x=1\"") != std::string::npos);
    CHECK(r.body.find("over h2") != std::string::npos);
  }

  TEST_CASE("closing a client ends its calls in flight with an error") {
    named a("a");
    gateway::client c(gateway::load_client_yaml(service("api", "shop", {a.port()})));
    std::promise<gateway::client_result> result;
    c.async_send(get("http://api.shop:8080/slow"),
                 [&](gateway::client_result r) { result.set_value(std::move(r)); });
    REQUIRE(eventually([&] { return a.server->requests() == 1; }));
    c.close();
    auto r = result.get_future().get();
    CHECK(r.error == gateway::errc::unavailable);
    CHECK(r.message.find("closed") != std::string::npos);
  }
}
