// What a filter factory gets from the gateway (filter_factory_context):
// counters that become gateway_filter_events_total, and the background
// services (fetch, schedule, post) that let filters do without a thread of
// their own. Real servers, real upstreams, the real background thread.
#include <doctest/doctest.h>

#include <gateway/filter_services.hpp>

#include <dirent.h>

#include <future>

#include "gateway_fixture.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

// Counts every request it sees, and those whose path holds "odd".
struct counting_config {
  gateway::filter_counter seen, odd;
};
class counting_filter final : public gateway::filter {
 public:
  explicit counting_filter(const counting_config& c) : c_(c) {}
  gateway::filter_status on_request(gateway::filter_context& ctx) override {
    ctx.count(c_.seen);
    if (ctx.path().find("odd") != std::string_view::npos) ctx.count(c_.odd, 2);
    return gateway::filter_status::next;
  }

 private:
  const counting_config& c_;
};
class counting_factory final : public gateway::filter_factory {
 public:
  explicit counting_factory(counting_config c) : c_(c) {}
  gateway::filter* create(gateway::filter_arena& arena) const override {
    return arena.make<counting_filter>(c_);
  }

 private:
  counting_config c_;
};

// Who the builder was told it builds for, as it saw it.
struct seen_context {
  std::mutex mutex;
  std::vector<std::string> owners, types;
};

gateway::filter_registry counting_registry(seen_context& seen) {
  gateway::filter_registry r = gateway::filter_registry::builtin();
  r.add("counting", [&seen](std::string_view, gateway::filter_factory_context& ctx) {
    {
      std::lock_guard lock(seen.mutex);
      seen.owners.emplace_back(ctx.owner());
      seen.types.emplace_back(ctx.type());
    }
    return std::make_shared<counting_factory>(
        counting_config{ctx.counter("seen"), ctx.counter("odd")});
  });
  return r;
}

std::string counting_yaml(std::uint16_t upstream) {
  return app_route_yaml(upstream,
                        "    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, "
                        "kind: Filter, name: counter}}]\n") +
         "---\napiVersion: gateway.dev/v1alpha1\nkind: Filter\nmetadata: {name: counter}\n"
         "spec: {type: counting}\n";
}

gateway::gateway_config on_loopback(gateway::gateway_config cfg) {
  for (auto& l : cfg.listeners) {
    l.bind_address = "127.0.0.1";
    l.bind_port = 0;
  }
  return cfg;
}

int status_of(std::uint16_t port, const std::string& path) {
  return request(port, "GET " + path + " HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n").status;
}

// The process's threads now.
std::size_t threads_now() {
  std::size_t n = 0;
  DIR* d = opendir("/proc/self/task");
  REQUIRE(d != nullptr);
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

// The background services, as a builder is given them.
gateway::filter_services& services() {
  static gateway::filter_services* s = [] {
    gateway::filter_services* got = nullptr;
    gateway::filter_registry r;
    r.add("grab", [&got](std::string_view, gateway::filter_factory_context& ctx) {
      got = &ctx.services();
      return std::make_shared<counting_factory>(counting_config{});
    });
    r.make("grab", "{}");
    return got;
  }();
  return *s;
}

gateway::client_result fetch(gateway::client_request request) {
  auto done = std::make_shared<std::promise<gateway::client_result>>();
  auto answer = done->get_future();
  services().fetch(std::move(request),
                   [done](gateway::client_result r) { done->set_value(std::move(r)); });
  REQUIRE(answer.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return answer.get();
}

gateway::client_request get(const std::string& url) {
  gateway::client_request r;
  r.url = url;
  r.timeout = std::chrono::seconds(10);
  return r;
}

}  // namespace

TEST_SUITE("filter factory context") {
  TEST_CASE("a host filter's counters are metrics, and carry on across a reload") {
    test_upstream up;
    seen_context seen;
    const gateway::filter_registry registry = counting_registry(seen);
    running_gateway gw(
        on_loopback(gateway::load_yaml(counting_yaml(up.port()), "t.yaml", registry)));
    for (const char* path : {"/a", "/odd", "/b"})
      CHECK(status_of(gw.port(), path) == 200);
    const std::string labels = "filter=\"Filter default/counter\",type=\"counting\",event=";
    CHECK(metric(gw.server(), "gateway_filter_events_total{" + labels + "\"seen\"}") == 3);
    CHECK(metric(gw.server(), "gateway_filter_events_total{" + labels + "\"odd\"}") == 2);
    {
      std::lock_guard lock(seen.mutex);
      REQUIRE(seen.owners.size() == 1);
      CHECK(seen.owners[0] == "Filter default/counter");
      CHECK(seen.types[0] == "counting");
    }
    // A new factory for the same Filter: the same counters, so the counts go on.
    gw.server().reload(
        on_loopback(gateway::load_yaml(counting_yaml(up.port()), "t.yaml", registry)));
    CHECK(status_of(gw.port(), "/odd") == 200);
    CHECK(metric(gw.server(), "gateway_filter_events_total{" + labels + "\"seen\"}") == 4);
    CHECK(metric(gw.server(), "gateway_filter_events_total{" + labels + "\"odd\"}") == 4);
    std::lock_guard lock(seen.mutex);
    CHECK(seen.owners.size() == 2);
  }

  TEST_CASE("built-in filters count what they let through and what they refuse") {
    test_upstream up;
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: limits}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  rateLimit:
    type: Local
    local:
      rules:
      - limit: {requests: 2, unit: Hour}
)"));
    int ok = 0, limited = 0;
    for (int i = 0; i < 5; ++i) {
      const int status = status_of(gw.port(), "/");
      ok += status == 200;
      limited += status == 429;
    }
    CHECK(ok == 2);
    CHECK(limited == 3);
    const std::string labels =
        "filter=\"BackendTrafficPolicy default/limits\",type=\"local-ratelimit\",event=";
    CHECK(metric(gw.server(), "gateway_filter_events_total{" + labels + "\"allowed\"}") == ok);
    CHECK(metric(gw.server(), "gateway_filter_events_total{" + labels + "\"limited\"}") == limited);
  }

  TEST_CASE("fetch: a name's addresses in turn, a refused port, HTTPS checked against the system") {
    test_upstream up;
    // localhost may resolve to ::1 first, where nothing listens: the next address answers.
    auto r = fetch(get("http://localhost:" + std::to_string(up.port()) + "/keys?x=1"));
    REQUIRE_MESSAGE(!r.error, r.message);
    CHECK(r.response.status == 200);
    CHECK(up.last().target == "/keys?x=1");
    CHECK(up.last().header("host") == "localhost:" + std::to_string(up.port()));
    CHECK(r.response.body.find("GET /keys?x=1") != std::string::npos);

    gateway::client_request post = get("http://127.0.0.1:" + std::to_string(up.port()) + "/in");
    post.method = "POST";
    post.body = "hello";
    post.headers = {{"x-from", "filter"}};
    r = fetch(post);
    REQUIRE_MESSAGE(!r.error, r.message);
    CHECK(up.last().method == "POST");
    CHECK(up.last().body == "hello");
    CHECK(up.last().header("x-from") == "filter");

    test_upstream gone;
    const std::uint16_t port = gone.port();
    gone.stop_listening();
    r = fetch(get("http://127.0.0.1:" + std::to_string(port) + "/"));
    CHECK(r.error == gateway::make_error_code(gateway::errc::unavailable));
    CHECK_MESSAGE(r.message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos,
                  r.message);

    // A certificate from the test's own CA is not in the system store.
    test_pki pki;
    test_tls_upstream secure(pki);
    r = fetch(get("https://127.0.0.1:" + std::to_string(secure.port()) + "/"));
    CHECK(r.error == gateway::make_error_code(gateway::errc::unavailable));
    CHECK_MESSAGE(r.message.find("certificate") != std::string::npos, r.message);
    CHECK(secure.requests() == 0);

    r = fetch(get("ftp://x/"));
    CHECK(r.error == gateway::make_error_code(gateway::errc::invalid_argument));
    r = fetch(get("/relative"));
    CHECK(r.error == gateway::make_error_code(gateway::errc::invalid_argument));
  }

  TEST_CASE("schedule runs a task later on the background thread, and a cancelled one never") {
    std::atomic<int> cancelled_ran{0}, dropped_ran{0};
    std::promise<std::thread::id> later;
    auto cancelled = services().schedule(std::chrono::milliseconds(10), [&] { ++cancelled_ran; });
    cancelled.cancel();
    {
      auto dropped = services().schedule(std::chrono::milliseconds(10), [&] { ++dropped_ran; });
    }
    auto kept = services().schedule(std::chrono::milliseconds(50),
                                    [&] { later.set_value(std::this_thread::get_id()); });
    auto ran_on = later.get_future();
    REQUIRE(ran_on.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK(ran_on.get() != std::this_thread::get_id());
    // Their times are past; a task posted now runs after anything due before it.
    std::promise<void> after;
    services().post([&] { after.set_value(); });
    REQUIRE(after.get_future().wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK(cancelled_ran == 0);
    CHECK(dropped_ran == 0);
  }

  TEST_CASE("remote JWKS and Redis rate limits start no thread per factory") {
    test_upstream up;
    const std::string yaml = app_route_yaml(up.port()) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: auth}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  jwt:
    providers: [{name: p, remoteJWKS: {uri: "http://127.0.0.1:1/jwks"}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: limits}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  rateLimit:
    type: Global
    global:
      redis: {address: "127.0.0.1:1"}
      rules:
      - limit: {requests: 2, unit: Hour}
)";
    // The background thread, and the resolver thread Asio starts for it at
    // its first lookup (one per event loop), exist once a name was looked up.
    const auto warm = fetch(get("http://localhost:1/"));
    CHECK(warm.error);
    std::vector<gateway::gateway_config> kept;
    kept.push_back(gateway::load_yaml(yaml, "t.yaml"));
    const std::size_t before = threads_now();
    for (int i = 0; i < 4; ++i)
      kept.push_back(gateway::load_yaml(yaml, "t.yaml"));
    CHECK(threads_now() == before);
    kept.clear();
    CHECK(threads_now() == before);
  }
}
