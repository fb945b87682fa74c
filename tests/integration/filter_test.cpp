// The filter chain through the real gateway: a host's own filter (every hook,
// pause/resume from another thread, body buffering, body rewriting, a filter
// that throws), and the built-in filters attached by policy from YAML.
#include <doctest/doctest.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <iterator>
#include <thread>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

client_response send(std::uint16_t port, const std::string& head_lines,
                     const std::string& body = "") {
  return request(
      port, head_lines +
                (body.empty() ? "" : "content-length: " + std::to_string(body.size()) + "\r\n") +
                "connection: close\r\n\r\n" + body);
}

client_response get(std::uint16_t port, const std::string& target, const std::string& extra = "") {
  return send(port, "GET " + target + " HTTP/1.1\r\nhost: a.example\r\n" + extra);
}

// A host filter that exercises every hook and records what it saw.
struct probe_state {
  std::atomic<int> logs{0};
  std::atomic<std::size_t> body_seen{0};
  std::atomic<bool> whole_body{false};
  std::string last_body;
};

class probe_filter final : public gateway::filter {
 public:
  probe_filter(probe_state& s, const std::string& mode) : s_(s), mode_(mode) {}
  gateway::filter_status on_request(gateway::filter_context& ctx) override {
    if (mode_ == "throw") throw std::runtime_error("probe exploded");
    ctx.request_headers().set("x-probe", std::string(ctx.method()) + " " + std::string(ctx.path()));
    ctx.set_metadata("probe", "seen");
    ctx.state<int>() += 1;
    if (ctx.request_headers().get("x-buffer")) ctx.buffer_request_body(1024);
    if (ctx.request_headers().get("x-deny")) {
      const gateway::http::header fields[] = {{"x-denied-by", "probe"}};
      ctx.send_local_reply(418, "no tea\n", fields);
      return gateway::filter_status::stop;
    }
    if (mode_ == "pause") {
      auto handle = ctx.pause_handle();
      std::thread([handle] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        handle.resume();
      }).detach();
      return gateway::filter_status::pause;
    }
    return gateway::filter_status::next;
  }
  gateway::filter_status on_request_body(gateway::filter_context&, std::string_view data,
                                         bool end) override {
    s_.body_seen += data.size();
    if (end && s_.body_seen == data.size()) s_.whole_body = true;
    return gateway::filter_status::next;
  }
  gateway::filter_status on_response(gateway::filter_context& ctx) override {
    ctx.response_headers().set("x-probe-status", std::to_string(ctx.response_status()));
    ctx.response_headers().set("x-probe-metadata", ctx.metadata("probe").value_or("none"));
    if (mode_ == "upper") ctx.response_headers().remove("content-length");
    return gateway::filter_status::next;
  }
  gateway::filter_status on_response_body(gateway::filter_context&,
                                          gateway::body_chunk& chunk) override {
    if (mode_ != "upper") return gateway::filter_status::next;
    out_.assign(chunk.data);
    for (char& c : out_)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    chunk.data = out_;
    return gateway::filter_status::next;
  }
  void on_log(gateway::filter_context&) noexcept override { ++s_.logs; }

 private:
  probe_state& s_;
  std::string mode_;
  std::string out_;
};

class probe_factory final : public gateway::filter_factory {
 public:
  probe_factory(probe_state& s, std::string mode) : s_(s), mode_(std::move(mode)) {}
  gateway::filter* create(gateway::filter_arena& arena) const override {
    return arena.make<probe_filter>(s_, mode_);
  }

 private:
  probe_state& s_;
  std::string mode_;
};

gateway::gateway_config probe_config(std::uint16_t upstream, probe_state& s,
                                     const std::string& mode) {
  auto cfg = proxy_config({upstream});
  cfg.listeners.front().routes.front().rules.front().filters.push_back(
      {"probe", std::make_shared<probe_factory>(s, mode)});
  return cfg;
}

std::string yaml_with(std::uint16_t upstream, const std::string& more,
                      const std::string& route_extra = "") {
  return app_route_yaml(upstream, route_extra) + more;
}

}  // namespace

TEST_SUITE("filter chain") {
  TEST_CASE("a chain with response hooks only still runs them") {
    test_upstream up;
    running_gateway gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: tag}
spec: {type: headers, config: {response: {add: [{name: x-tagged, value: "yes"}]}}}
)",
                                                  "    filters:\n    - {type: ExtensionRef, "
                                                  "extensionRef: {group: gateway.dev, kind: "
                                                  "Filter, name: tag}}\n")));
    auto r = get(gw.port(), "/");
    CHECK(r.status == 200);
    CHECK(r.header("x-tagged") == "yes");
  }

  TEST_CASE("a host filter edits the request and response, and on_log runs once per request") {
    test_upstream up;
    probe_state s;
    running_gateway gw(probe_config(up.port(), s, "plain"));
    auto r = get(gw.port(), "/a/./b?q=1");
    REQUIRE(r.status == 200);
    CHECK(up.last().header("x-probe") == "GET /a/b");
    CHECK(r.header("x-probe-status") == "200");
    CHECK(r.header("x-probe-metadata") == "seen");
    auto denied = get(gw.port(), "/", "x-deny: 1\r\n");
    CHECK(denied.status == 418);
    CHECK(denied.body == "no tea\n");
    CHECK(denied.header("x-denied-by") == "probe");
    CHECK(denied.header("x-probe-status") == "418");  // response hooks see local replies too
    for (int i = 0; i < 50 && s.logs < 2; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(s.logs == 2);
  }

  TEST_CASE("listener-level filters run before the rule's, and answer for every route") {
    test_upstream up;
    probe_state gateway_level, route_level;
    auto cfg = probe_config(up.port(), route_level, "plain");
    cfg.listeners.front().filters.push_back(
        {"gateway-probe", std::make_shared<probe_factory>(gateway_level, "plain")});
    running_gateway gw(cfg);
    auto r = get(gw.port(), "/x");
    CHECK(r.status == 200);
    CHECK(up.last().count("x-probe") == 1);  // both set it; set replaces
    auto denied = get(gw.port(), "/x", "x-deny: 1\r\n");
    CHECK(denied.status == 418);  // the listener's filter answered first
    // on_log runs for every filter of the chain, reached or not.
    for (int i = 0; i < 50 && (gateway_level.logs < 2 || route_level.logs < 2); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(gateway_level.logs == 2);
    CHECK(route_level.logs == 2);
  }

  TEST_CASE("pause, then resume from another thread") {
    test_upstream up;
    probe_state s;
    running_gateway gw(probe_config(up.port(), s, "pause"));
    for (int i = 0; i < 3; ++i) {
      auto r = get(gw.port(), "/p");
      CHECK(r.status == 200);
      CHECK(up.last().header("x-probe") == "GET /p");
    }
  }

  TEST_CASE("a filter that throws is a 500, and the worker keeps serving") {
    test_upstream up;
    probe_state s;
    auto cfg = proxy_config({up.port()});
    auto& routes = cfg.listeners.front().routes;
    routes.front().rules.front().filters.push_back(
        {"probe", std::make_shared<probe_factory>(s, "throw")});
    routes.front().rules.front().matches.push_back(
        {{gateway::path_match_type::prefix, "/boom"}, std::nullopt, {}, {}});
    gateway::route_rule fine;
    fine.backends = routes.front().rules.front().backends;
    routes.front().rules.push_back(std::move(fine));
    running_gateway gw(cfg);
    CHECK(get(gw.port(), "/boom").status == 500);
    CHECK(get(gw.port(), "/fine").status == 200);
    CHECK(get(gw.port(), "/boom").status == 500);
  }

  TEST_CASE("request body: pieces as they stream, or the whole body when asked") {
    test_upstream up;
    probe_state s;
    running_gateway gw(probe_config(up.port(), s, "plain"));
    std::string body(100000, 'x');
    auto r = send(gw.port(), "POST /u HTTP/1.1\r\nhost: a\r\n", body);
    CHECK(r.status == 200);
    CHECK(s.body_seen == body.size());
    CHECK(up.last().body.size() == body.size());
    s.body_seen = 0;
    auto small = send(gw.port(), "POST /u HTTP/1.1\r\nhost: a\r\nx-buffer: 1\r\n", "hello");
    CHECK(small.status == 200);
    CHECK(s.whole_body);
    auto big =
        send(gw.port(), "POST /u HTTP/1.1\r\nhost: a\r\nx-buffer: 1\r\n", std::string(2000, 'y'));
    CHECK(big.status == 413);
  }

  TEST_CASE("a response body filter rewrites the body, the client gets it chunked") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.body = "hello filters";
      return p;
    });
    probe_state s;
    running_gateway gw(probe_config(up.port(), s, "upper"));
    auto r = get(gw.port(), "/");
    REQUIRE(r.status == 200);
    CHECK(r.body == "HELLO FILTERS");
    CHECK(r.header("transfer-encoding") == "chunked");
    CHECK(r.count("content-length") == 0);
  }
}

TEST_SUITE("built-in filters by policy") {
  TEST_CASE("SecurityPolicy cors: preflight answered, allowed origin gets fields, others none") {
    test_upstream up;
    running_gateway gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: cors}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  cors:
    allowOrigins: ["https://app.example.com", "https://*.partner.example"]
    allowOriginRegexes: ["https://dev-[0-9]+\\.example\\.org"]
    allowMethods: [GET, POST]
    allowHeaders: [x-token]
    exposeHeaders: [x-trace]
    maxAge: 10m
    allowCredentials: true
)")));
    auto pre = send(gw.port(),
                    "OPTIONS /x HTTP/1.1\r\nhost: a\r\norigin: https://a.partner.example\r\n"
                    "access-control-request-method: POST\r\n");
    CHECK(pre.status == 204);
    CHECK(pre.header("access-control-allow-origin") == "https://a.partner.example");
    CHECK(pre.header("access-control-max-age") == "600");
    CHECK(pre.header("access-control-allow-credentials") == "true");
    auto ok = get(gw.port(), "/x", "origin: https://dev-42.example.org\r\n");
    CHECK(ok.status == 200);
    CHECK(ok.header("access-control-allow-origin") == "https://dev-42.example.org");
    CHECK(ok.header("access-control-expose-headers") == "x-trace");
    auto other = get(gw.port(), "/x", "origin: https://evil.example\r\n");
    CHECK(other.status == 200);
    CHECK(other.count("access-control-allow-origin") == 0);
  }

  TEST_CASE("SecurityPolicy basicAuth: bcrypt, {SHA} and apr1 users") {
    test_upstream up;
    running_gateway gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: v1
kind: Secret
metadata: {name: users}
stringData:
  .htpasswd: |
    ann:$apr1$abcdefgh$paCto.rW8wn6thJ8b0QQY.
    bob:{SHA}xjbo4jj9evl+LlAPjG8PTAvtr7A=
    cyd:$2y$04$ClntkeiAx4EpJryA.X99AeMCXn9mb5key.KeRwTy9zkE5DHuuS7ZW
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: auth}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
  basicAuth:
    users: {name: users}
    forwardUsernameHeader: x-user
)")));
    auto basic = [](const std::string& user_pass) {
      static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      std::string out;
      std::size_t i = 0;
      for (; i + 2 < user_pass.size(); i += 3) {
        unsigned v = (unsigned char)user_pass[i] << 16 | (unsigned char)user_pass[i + 1] << 8 |
                     (unsigned char)user_pass[i + 2];
        for (int s = 18; s >= 0; s -= 6)
          out += t[(v >> s) & 63];
      }
      if (i < user_pass.size()) {
        unsigned v = (unsigned char)user_pass[i] << 16;
        if (i + 1 < user_pass.size()) v |= (unsigned char)user_pass[i + 1] << 8;
        out += t[(v >> 18) & 63];
        out += t[(v >> 12) & 63];
        out += i + 1 < user_pass.size() ? t[(v >> 6) & 63] : '=';
        out += '=';
      }
      return "authorization: Basic " + out + "\r\n";
    };
    for (const auto& user : {std::pair{"ann", "secret1"}, {"bob", "secret2"}, {"cyd", "secret3"}}) {
      const char* const who = user.first;
      const char* const pass = user.second;
      auto r = get(gw.port(), "/", basic(std::string(who) + ":" + pass));
      CHECK_MESSAGE(r.status == 200, who);
      CHECK(up.last().header("x-user") == who);
    }
    auto none = get(gw.port(), "/");
    CHECK(none.status == 401);
    CHECK(none.header("www-authenticate").find("Basic realm=") == 0);
    CHECK(get(gw.port(), "/", basic("ann:wrong")).status == 401);
    CHECK(get(gw.port(), "/", basic("cyd:secret1")).status == 401);
    CHECK(get(gw.port(), "/", basic("nobody:secret1")).status == 401);
  }

  TEST_CASE("SecurityPolicy apiKeyAuth: header, query and cookie, key stripped, client forwarded") {
    test_upstream up;
    running_gateway gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData: {client-a: key-aaa, client-b: key-bbb}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key], params: [api_key], cookies: [k]}]
    forwardClientIDHeader: x-client
)")));
    auto h = get(gw.port(), "/", "x-api-key: key-aaa\r\n");
    CHECK(h.status == 200);
    CHECK(up.last().header("x-client") == "client-a");
    CHECK(up.last().count("x-api-key") == 0);
    auto q = get(gw.port(), "/p?x=1&api_key=key-bbb&y=2");
    CHECK(q.status == 200);
    CHECK(up.last().target == "/p?x=1&y=2");
    CHECK(up.last().header("x-client") == "client-b");
    auto c = get(gw.port(), "/", "cookie: a=1; k=key-aaa; b=2\r\n");
    CHECK(c.status == 200);
    CHECK(up.last().header("cookie") == "a=1; b=2");
    CHECK(get(gw.port(), "/").status == 401);
    CHECK(get(gw.port(), "/", "x-api-key: key-zzz\r\n").status == 401);
  }

  TEST_CASE("SecurityPolicy authorization: CIDR rules, default action, X-Forwarded-For hops") {
    test_upstream up;
    auto yaml = [&](const std::string& rules) {
      return yaml_with(up.port(), R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: ip}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web, sectionName: http}]
  authorization:
)" + rules);
    };
    {
      running_gateway gw(load_on_loopback(
          yaml("    defaultAction: Deny\n    rules: [{name: lo, action: Allow, principal: "
               "{clientCIDRs: [\"127.0.0.0/8\", \"::1/128\"]}}]\n")));
      CHECK(get(gw.port(), "/").status == 200);
    }
    {
      running_gateway gw(load_on_loopback(
          yaml("    defaultAction: Allow\n    rules: [{action: Deny, principal: {clientCIDRs: "
               "[127.0.0.1/32]}}]\n")));
      auto r = get(gw.port(), "/");
      CHECK(r.status == 403);
    }
  }

  TEST_CASE("ip-access trusts X-Forwarded-For only as far as told") {
    test_upstream up;
    running_gateway gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: office-only}
spec:
  type: ip-access
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  config:
    defaultAction: Deny
    clientIPDetection: {xForwardedFor: {numTrustedHops: 1}}
    rules: [{action: Allow, principal: {clientCIDRs: [203.0.113.0/24, "2001:db8::/32"]}}]
)")));
    CHECK(get(gw.port(), "/", "x-forwarded-for: 203.0.113.7\r\n").status == 200);
    CHECK(get(gw.port(), "/", "x-forwarded-for: 2001:db8::5\r\n").status == 200);
    // The client wrote the first entry; the trusted proxy appended the second.
    CHECK(get(gw.port(), "/", "x-forwarded-for: 203.0.113.7, 198.51.100.1\r\n").status == 403);
    CHECK(get(gw.port(), "/").status == 403);  // no header: the socket peer
  }

  TEST_CASE("BackendTrafficPolicy local rate limit: 429 with Retry-After, buckets per value") {
    test_upstream up;
    running_gateway gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: limits}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  rateLimit:
    type: Local
    local:
      rules:
      - clientSelectors: [{headers: [{name: x-user, type: Distinct}]}]
        limit: {requests: 3, unit: Minute}
)")),
                       2);
    for (int i = 0; i < 3; ++i) {
      auto r = get(gw.port(), "/", "x-user: ann\r\n");
      CHECK(r.status == 200);
      CHECK(r.header("x-ratelimit-limit") == "3");
      CHECK(r.header("x-ratelimit-remaining") == std::to_string(2 - i));
    }
    auto limited = get(gw.port(), "/", "x-user: ann\r\n");
    CHECK(limited.status == 429);
    CHECK(std::stoi(limited.header("retry-after")) >= 1);
    CHECK(limited.header("x-ratelimit-remaining") == "0");
    CHECK(get(gw.port(), "/", "x-user: bob\r\n").status == 200);  // a bucket of its own
    CHECK(get(gw.port(), "/").status == 200);  // no x-user: the rule does not apply
  }

  TEST_CASE("Filter objects by ExtensionRef: headers, direct response, size limit, error pages") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      p.status = r.target == "/missing" ? 404 : 200;
      p.body = "upstream body";
      p.headers = {{"x-internal", "1"}};
      return p;
    });
    std::string rules = R"(    filters:
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: tidy}}
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: small}}
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: pages}}
  - matches: [{path: {type: PathPrefix, value: /maintenance}}]
    filters:
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: down}}
)";
    running_gateway gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: tidy}
spec:
  type: headers
  config:
    request: {set: [{name: x-env, value: prod}], remove: [x-debug]}
    response: {remove: [x-internal], add: [{name: x-frame-options, value: DENY}]}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: small}
spec: {type: request-size-limit, config: {maxBytes: 10}}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: pages}
spec:
  type: error-pages
  config: {pages: [{statuses: ["404", "5xx"], body: "<h1>sorry</h1>", contentType: text/html}]}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: down}
spec: {type: direct-response, config: {status: 503, body: "back soon\n", headers: [{name: retry-after, value: "120"}]}}
)",
                                                  rules)));
    auto r = get(gw.port(), "/", "x-debug: 1\r\n");
    CHECK(r.status == 200);
    CHECK(up.last().header("x-env") == "prod");
    CHECK(up.last().count("x-debug") == 0);
    CHECK(r.count("x-internal") == 0);
    CHECK(r.header("x-frame-options") == "DENY");
    CHECK(send(gw.port(), "POST / HTTP/1.1\r\nhost: a\r\n", std::string(11, 'z')).status == 413);
    CHECK(send(gw.port(), "POST / HTTP/1.1\r\nhost: a\r\n", std::string(10, 'z')).status == 200);
    auto missing = get(gw.port(), "/missing");
    CHECK(missing.status == 404);
    CHECK(missing.body == "<h1>sorry</h1>");
    CHECK(missing.header("content-type") == "text/html");
    auto down = get(gw.port(), "/maintenance");
    CHECK(down.status == 503);
    CHECK(down.body == "back soon\n");
    CHECK(down.header("retry-after") == "120");
  }

  TEST_CASE("policy errors name the field") {
    auto fails_with = [](const std::string& yaml, const std::string& needle) {
      try {
        gateway::load_yaml(yaml_with(1, yaml), "t.yaml");
        FAIL("loaded: " << yaml);
      } catch (const gateway::error& e) {
        CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
      }
    };
    const std::string head = R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: p}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
)";
    fails_with(head + "  oidc: {provider: {issuer: x}}\n", "spec.oidc");
    fails_with(head +
                   "  authorization: {rules: [{action: Allow, principal: {clientCIDRs: "
                   "[10.0.0.300/8]}}]}\n",
               "clientCIDRs[0]");
    fails_with(head + "  cors: {allowOrigins: [example.com]}\n", "is not '*' or scheme://host");
    fails_with(head + "  basicAuth: {users: {name: nope}}\n", "Secret default/nope not found");
    fails_with(R"(---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: f}
spec: {type: no-such-filter}
)",
               "unknown filter 'no-such-filter'");
  }
}

TEST_SUITE("client traffic and the access log") {
  TEST_CASE("ClientTrafficPolicy X-Forwarded-For trust sets the client filters and the log see") {
    test_upstream up;
    char path[] = "/tmp/gateway-filter-log-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    {
      gateway::server_options options;
      options.threads = 1;
      options.level = gateway::log_level::error;
      options.access_log = {path,
                            "%client% %status% %meta:api-key-auth.client% %meta:ip-access.rule%"};
      gateway::server gw(load_on_loopback(yaml_with(up.port(), R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: {name: behind-lb}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web, sectionName: http}]
  clientIPDetection: {xForwardedFor: {numTrustedHops: 2}}
---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData: {mobile: k-1}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: sec}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
  authorization:
    defaultAction: Deny
    rules: [{name: office, action: Allow, principal: {clientCIDRs: [198.51.100.0/24]}}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key]}]
)")),
                         options);
      gw.start();
      // Two trusted proxies: the second entry from the right is the client.
      CHECK(get(gw.port(), "/",
                "x-forwarded-for: 10.9.9.9, 198.51.100.4, 10.0.0.1\r\nx-api-key: k-1\r\n")
                .status == 200);
      CHECK(
          get(gw.port(), "/", "x-forwarded-for: 198.51.100.4, 203.0.113.8, 10.0.0.1\r\n").status ==
          403);
      CHECK(up.last().header("x-forwarded-for") == "10.9.9.9, 198.51.100.4, 10.0.0.1, 127.0.0.1");
      gw.stop();
    }
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ::unlink(path);
    CHECK(text == "198.51.100.4 200 mobile office\n203.0.113.8 403 - -\n");
  }
}
