// The Redis-backed rate limit with a real redis-server: two gateways share
// one limit; Redis killed or frozen gives the configured failure mode within
// the timeout, and the gateway keeps serving.
#include <doctest/doctest.h>

#include <chrono>

#include "gateway_fixture.hpp"
#include "redis_process.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

std::string config(std::uint16_t upstream, const std::string& redis, const std::string& mode,
                   int limit = 5, const std::string& redis_more = "",
                   const std::string& timeout = "200ms") {
  return app_route_yaml(upstream) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: shared}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  rateLimit:
    type: Global
    global:
      redis: {address: ")" +
         redis + R"(", timeout: )" + timeout + ", failureMode: " + mode + redis_more + R"(}
      rules:
      - clientSelectors: [{headers: [{name: x-user, type: Distinct}]}]
        limit: {requests: )" +
         std::to_string(limit) + R"(, unit: Hour}
)";
}

// `text` with every line indented by `n` spaces (a block scalar's body).
std::string indent(const std::string& text, int n) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    out.append(static_cast<std::size_t>(n), ' ').append(text, at, end - at).append("\n");
    at = end + 1;
  }
  return out;
}

client_response get(std::uint16_t port, const std::string& user) {
  return request(port,
                 "GET / HTTP/1.1\r\nhost: a\r\nx-user: " + user + "\r\nconnection: close\r\n\r\n");
}

}  // namespace

TEST_SUITE("global rate limit with redis") {
  TEST_CASE("two gateways share one limit, the total accepted equals it") {
    redis_process redis;
    test_upstream up;
    running_gateway a(load_on_loopback(config(up.port(), redis.address(), "FailOpen")), 2);
    running_gateway b(load_on_loopback(config(up.port(), redis.address(), "FailOpen")), 2);
    int accepted = 0, limited = 0;
    for (int i = 0; i < 16; ++i) {
      auto r = get(i % 2 ? a.port() : b.port(), "ann");
      if (r.status == 200) ++accepted;
      if (r.status == 429) {
        ++limited;
        CHECK(std::stoi(r.header("retry-after")) >= 1);
        CHECK(r.header("x-ratelimit-limit") == "5");
      }
    }
    CHECK(accepted == 5);
    CHECK(limited == 11);
    CHECK(get(a.port(), "bob").status == 200);  // another user, another count
  }

  TEST_CASE("a Redis named by a host name (looked up at connect) holds the limit") {
    redis_process redis;
    test_upstream up;
    // localhost: /etc/hosts may list ::1 first, where redis does not listen;
    // each address is tried in turn.
    const std::string named = "localhost:" + std::to_string(redis.port());
    // A generous timeout: what is counted is the point, not how fast.
    running_gateway gw(load_on_loopback(config(up.port(), named, "FailClosed", 3, "", "5s")), 1);
    int accepted = 0, limited = 0;
    for (int i = 0; i < 5; ++i) {
      const int status = get(gw.port(), "cy").status;
      accepted += status == 200;
      limited += status == 429;
    }
    CHECK(accepted == 3);  // FailClosed: a Redis it could not reach would give 503s
    CHECK(limited == 2);
    // A name that does not resolve is a Redis that cannot be reached.
    running_gateway nowhere(
        load_on_loopback(config(up.port(), "redis.invalid:6379", "FailClosed", 3)), 1);
    CHECK(get(nowhere.port(), "cy").status == 503);
    // What is neither an address nor a name is refused as the config loads.
    CHECK_THROWS_WITH_AS(load_on_loopback(config(up.port(), "redis_1!:6379", "FailOpen")),
                         doctest::Contains("'redis_1!' is neither an IP address nor a DNS name"),
                         gateway::error);
  }

  TEST_CASE("AUTH from a Secret: requirepass, an ACL user, and refusals") {
    redis_process redis(
        {"--requirepass", "topsecret", "--user", "alice", "on", ">s3cret", "~*", "+@all"});
    test_upstream up;
    // A limit of 2 under FailClosed: 200 200 429 when Redis counts, 503s when
    // it does not (refused AUTH, or no AUTH where it is wanted).
    // Each call counts for a user of its own.
    auto statuses = [&](const std::string& user, const std::string& secret, bool with_auth = true) {
      std::string yaml = config(up.port(), redis.address(), "FailClosed", 2,
                                with_auth ? ", auth: {secretRef: {name: redis-auth}}" : "", "5s");
      yaml +=
          "---\napiVersion: v1\nkind: Secret\nmetadata: {name: redis-auth}\nstringData: " + secret +
          "\n";
      running_gateway gw(load_on_loopback(yaml), 1);
      std::string out;
      for (int i = 0; i < 3; ++i)
        out += (i ? " " : "") + std::to_string(get(gw.port(), user).status);
      return out;
    };
    CHECK(statuses("dee", "{password: topsecret}") == "200 200 429");
    CHECK(statuses("eve", "{username: alice, password: s3cret}") == "200 200 429");
    CHECK(statuses("fay", "{password: wrong}") == "503 503 503");
    CHECK(statuses("gus", "{username: alice, password: topsecret}") == "503 503 503");
    CHECK(statuses("hal", "{password: topsecret}", false) == "503 503 503");
    // A Secret without a password, or a password written inline, is a config error.
    CHECK_THROWS_WITH_AS(load_on_loopback(config(up.port(), redis.address(), "FailOpen", 2,
                                                 ", auth: {secretRef: {name: redis-auth}}") +
                                          "---\napiVersion: v1\nkind: Secret\nmetadata: {name: "
                                          "redis-auth}\nstringData: {username: alice}\n"),
                         doctest::Contains("the Secret has no 'password' key"), gateway::error);
    CHECK_THROWS_WITH_AS(load_on_loopback(config(up.port(), redis.address(), "FailOpen", 2,
                                                 ", auth: {password: topsecret}")),
                         doctest::Contains("spec.rateLimit.global.redis.auth.password"),
                         gateway::error);
  }

  TEST_CASE("TLS to Redis: its CA from a Secret, a wrong CA and plain text refused") {
    test_pki pki;
    // TLS on a port of its own (the plain one tells the test it is up).
    const std::uint16_t tls_port = redis_process::free_port();
    redis_process redis({"--tls-port", std::to_string(tls_port), "--tls-cert-file",
                         pki.path("server.crt"), "--tls-key-file", pki.path("server.key"),
                         "--tls-ca-cert-file", pki.path("ca.crt"), "--tls-auth-clients", "no"});
    test_upstream up;
    const std::string at = "127.0.0.1:" + std::to_string(tls_port);
    auto statuses = [&](const std::string& user, const std::string& redis_more,
                        const std::string& ca_file) {
      // 1 s: a handshake on a busy machine fits; plain text to the TLS port
      // (which never answers it) waits it out once.
      std::string yaml = config(up.port(), at, "FailClosed", 2, redis_more, "1s");
      if (!ca_file.empty())
        yaml +=
            "---\napiVersion: v1\nkind: Secret\nmetadata: {name: redis-ca}\nstringData:\n"
            "  ca.crt: |\n" +
            indent(pki.read(ca_file), 4);
      running_gateway gw(load_on_loopback(yaml), 1);
      std::string out;
      for (int i = 0; i < 3; ++i)
        out += (i ? " " : "") + std::to_string(get(gw.port(), user).status);
      return out;
    };
    // The certificate names 127.0.0.1, the address asked for; upstream.test as serverName.
    CHECK(statuses("ivy", ", tls: {caCertificateRef: {name: redis-ca}}", "ca.crt") ==
          "200 200 429");
    CHECK(statuses("jo", ", tls: {caCertificateRef: {name: redis-ca}, serverName: upstream.test}",
                   "ca.crt") == "200 200 429");
    CHECK(statuses("kim", ", tls: {caCertificateRef: {name: redis-ca}}", "other-ca.crt") ==
          "503 503 503");  // not trusted
    CHECK(statuses("lu", ", tls: {caCertificateRef: {name: redis-ca}, serverName: elsewhere.test}",
                   "ca.crt") == "503 503 503");      // not the name it carries
    CHECK(statuses("mo", "", "") == "503 503 503");  // plain text to a TLS port
    CHECK_THROWS_WITH_AS(
        load_on_loopback(
            config(up.port(), at, "FailOpen", 2, ", tls: {caCertificateRef: {name: redis-ca}}") +
            "---\napiVersion: v1\nkind: Secret\nmetadata: {name: redis-ca}\n"
            "stringData: {tls.crt: x}\n"),
        doctest::Contains("the Secret has no 'ca.crt' key"), gateway::error);
  }

  TEST_CASE("redis killed: FailOpen serves, FailClosed answers 503, both within the timeout") {
    redis_process redis;
    test_upstream up;
    running_gateway open(load_on_loopback(config(up.port(), redis.address(), "FailOpen")));
    running_gateway closed(load_on_loopback(config(up.port(), redis.address(), "FailClosed")));
    CHECK(get(open.port(), "ann").status == 200);
    CHECK(get(closed.port(), "ann").status == 200);
    redis.stop();
    for (int i = 0; i < 3; ++i) {  // each answered within the client's deadline
      CHECK(get(open.port(), "ann").status == 200);
      CHECK(get(closed.port(), "ann").status == 503);
    }
  }

  TEST_CASE("redis frozen: answers come after the timeout, not after redis") {
    redis_process redis;
    test_upstream up;
    running_gateway open(load_on_loopback(config(up.port(), redis.address(), "FailOpen")));
    running_gateway closed(load_on_loopback(config(up.port(), redis.address(), "FailClosed")));
    CHECK(get(open.port(), "ann").status == 200);  // connected
    CHECK(get(closed.port(), "ann").status == 200);
    redis.freeze();
    auto start = std::chrono::steady_clock::now();
    CHECK(get(open.port(), "ann").status == 200);
    CHECK(get(closed.port(), "ann").status == 503);
    auto took = std::chrono::steady_clock::now() - start;
    // Not early; and answered while redis is still frozen (thawed only below).
    CHECK(took >= std::chrono::milliseconds(200));
    redis.thaw();
  }
}
