// WebSocket through the gateway: HTTP/1.1 Upgrade requests forwarded, the
// upstream's 101 relayed, then a byte tunnel both ways. A real server and a
// real client from Debian's python3-websockets (tests/support/ws_*.py), and
// a hand-made client where a test needs to hold a tunnel open across a
// reload or a stop.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "python_server.hpp"
#include "shell_run.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string lowercase(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return s;
}

// One output line per tunnel of tests/support/ws_client.py run with `spec`.
std::vector<std::string> ws_calls(const std::string& spec) {
  return script_lines("ws_client.py", spec);
}

std::string ws_url(std::uint16_t port, const std::string& path) {
  return "ws://127.0.0.1:" + std::to_string(port) + path;
}

// The upgrade request a browser sends (the key is the RFC 6455 example).
std::string handshake(const std::string& path, const std::string& extra = "") {
  return "GET " + path +
         " HTTP/1.1\r\nhost: example.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
         "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n" +
         extra + "\r\n";
}

// A masked client text frame (RFC 6455 §5.2) carrying `text` (< 126 bytes).
std::string client_frame(const std::string& text) {
  std::string f;
  f.push_back('\x81');
  f.push_back(static_cast<char>(0x80 | text.size()));
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  f.append(mask, 4);
  for (std::size_t i = 0; i < text.size(); ++i)
    f.push_back(static_cast<char>(text[i] ^ mask[i % 4]));
  return f;
}

struct ws_upstream : python_server {
  ws_upstream() : python_server("ws_upstream.py", {}) {}
};

}  // namespace

TEST_SUITE("websocket") {
  TEST_CASE("echo through a tunnel both ways: upgrade fields forwarded, 101, bytes counted") {
    ws_upstream up;
    temp_dir dir;
    gateway::server_options o;
    o.threads = 1;
    o.level = gateway::log_level::error;
    o.access_log = {dir.path + "/access.log", "%path% %status% %bytes_in% %bytes_out%"};
    gateway::server gw(load_on_loopback(app_route_yaml(up.port())), o);
    gw.start();
    const auto got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/headers") +
                              "\", \"expect_first\": true, \"messages\": [\"hello\", \"world\"]}");
    REQUIRE(got.size() == 1);
    CAPTURE(got[0]);
    CHECK(has(got[0], "\"ok\": true"));
    // The upstream got the Upgrade asked again on its hop, and the usual fields.
    CHECK(has(got[0], "\\\"upgrade\\\": \\\"websocket\\\""));
    CHECK(has(got[0], "\\\"connection\\\": \\\"upgrade\\\""));
    CHECK(has(got[0], "\\\"sec-websocket-key\\\""));
    CHECK(has(got[0], "\\\"x-forwarded-for\\\": \\\"127.0.0.1\\\""));
    // A tunnel is logged when it closes, with what went through it.
    const std::string log = file_once_it_has(dir.path + "/access.log", "/headers 101 ");
    CAPTURE(log);
    REQUIRE(has(log, "/headers 101 "));
    std::uint64_t in = 0, out = 0;
    {
      std::istringstream line(log.substr(log.find("/headers 101 ") + 13));
      line >> in >> out;
    }
    CHECK(in > 200);   // the handshake and two masked frames
    CHECK(out > 400);  // the 101, the headers message and two echoes
    CHECK(metric(gw,
                 "gateway_requests_total{listener=\"default/web/http\",route=\"default/app\","
                 "backend=\"default/app:80\",code_class=\"1xx\"}") == 1);
  }

  TEST_CASE("a 10 MiB message each way, and 200 tunnels at once on one worker") {
    ws_upstream up;
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())), 1);
    auto got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/big") + "\", \"size\": 10485760}");
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "\"ok\": true"));
    got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/many") +
                   "\", \"tunnels\": 200, \"messages\": [\"one\", \"two\"]}");
    REQUIRE(got.size() == 200);
    CHECK(std::all_of(got.begin(), got.end(),
                      [](const std::string& l) { return has(l, "\"ok\": true"); }));
  }

  TEST_CASE("a tunnel where nothing moves ends at the stream idle timeout") {
    ws_upstream up;
    auto cfg = load_on_loopback(app_route_yaml(up.port()));
    cfg.listeners.at(0).limits.stream_idle_timeout = std::chrono::milliseconds(300);
    running_gateway gw(std::move(cfg));
    const auto got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/idle") +
                              "\", \"messages\": [\"x\"], \"wait_close\": 20}");
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "\"ok\": true"));
    CHECK(has(got[0], "\"closed_by_peer\": true"));
  }

  TEST_CASE("a reload keeps an open tunnel, a stop closes it at the drain deadline") {
    ws_upstream up;
    const std::string yaml = app_route_yaml(up.port());
    auto gw = std::make_unique<running_gateway>(load_on_loopback(yaml));
    test_client c(gw->port());
    REQUIRE(c.send(handshake("/held")));
    const std::string head = c.read_until("\r\n\r\n");
    CAPTURE(head);
    REQUIRE(head.starts_with("HTTP/1.1 101"));
    CHECK(has(lowercase(head), "upgrade: websocket"));
    CHECK(has(lowercase(head), "connection: upgrade"));
    CHECK(has(lowercase(head), "sec-websocket-accept: "));
    CHECK(has(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));  // RFC 6455's example answer
    REQUIRE(c.send(client_frame("before")));
    CHECK(has(c.read_until("before"), "before"));
    // A reload (another route added) leaves the tunnel as it was.
    auto next = load_on_loopback(yaml +
                                 "---\napiVersion: gateway.networking.k8s.io/v1\nkind: "
                                 "HTTPRoute\nmetadata: {name: more}\nspec:\n  parentRefs: "
                                 "[{name: web}]\n  hostnames: [more.test]\n  rules:\n  - "
                                 "backendRefs: [{name: app, port: 80}]\n");
    for (auto& l : next.listeners)
      l.bind_port = gw->port();
    gw->server().reload(std::move(next));
    REQUIRE(c.send(client_frame("after")));
    CHECK(has(c.read_until("after"), "after"));
    // A graceful stop waits for it until the deadline, then closes it.
    std::thread stopper([&] { gw->server().stop(std::chrono::milliseconds(300)); });
    CHECK(c.closed_by_peer(std::chrono::seconds(20)));
    stopper.join();
  }

  TEST_CASE("the handshake goes through the filters: an API key policy refuses it") {
    ws_upstream up;
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) + R"(---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData: {client-a: key-aaa}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: keys}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key]}]
)"));
    auto got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/k") + "\", \"messages\": [\"m\"]}");
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "\"status\": 401"));
    got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/k") +
                   "\", \"headers\": [[\"x-api-key\", \"key-aaa\"]], \"messages\": [\"m\"]}");
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "\"ok\": true"));
  }

  TEST_CASE("the WAF inspects the handshake and refuses one that matches a rule") {
    ws_upstream up;
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) + R"(---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: waf}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  ruleSet: {crs: {paranoiaLevel: 1}}
)"));
    // SQL injection in the handshake's query: the CRS blocks it (942100).
    auto got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/chat?room=1%27%20OR%20%271%27=%271") +
                        "\", \"messages\": [\"m\"]}");
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "\"status\": 403"));
    got = ws_calls("{\"url\": \"" + ws_url(gw.port(), "/chat?room=lobby") +
                   "\", \"messages\": [\"m\"]}");
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "\"ok\": true"));
  }

  TEST_CASE("other Upgrade values are not taken, and an upstream may refuse the upgrade") {
    test_upstream plain(echo);  // answers 200 to anything, never 101
    running_gateway gw(load_on_loopback(app_route_yaml(plain.port())));
    // An Upgrade the gateway does not tunnel: served as a plain request.
    client_response r =
        request(gw.port(),
                "GET /h2c HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\n"
                "upgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAAP__\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(plain.last().count("upgrade") == 0);
    CHECK(plain.last().count("http2-settings") == 0);
    // A WebSocket handshake the upstream answers without 101 gets that answer.
    test_client c(gw.port());
    REQUIRE(c.send(handshake("/refused")));
    r = c.read_response();
    CHECK(r.status == 200);
    CHECK(plain.last().header("upgrade") == "websocket");
    // The connection stays usable as HTTP/1.1.
    REQUIRE(c.send("GET /next HTTP/1.1\r\nhost: x\r\n\r\n"));
    CHECK(c.read_response().status == 200);
  }

  TEST_CASE("an Upgrade the route does not name is refused, one a policy names goes on") {
    test_upstream plain(echo);
    const std::string spdy =
        "GET /exec HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: SPDY/3.1\r\n\r\n";
    {
      running_gateway gw(load_on_loopback(app_route_yaml(plain.port())));
      const client_response r = request(gw.port(), spdy);
      CHECK(r.status == 403);
      CHECK(plain.requests() == 0);
    }
    running_gateway gw(load_on_loopback(app_route_yaml(plain.port()) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: upgrades}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  httpUpgrade: [{type: spdy/3.1}]
)"));
    client_response r = request(gw.port(), spdy);
    CHECK(r.status == 200);
    CHECK(plain.last().header("upgrade") == "SPDY/3.1");
    // The list replaces the default: WebSocket is not named any more.
    r = request(gw.port(), handshake("/ws"));
    CHECK(r.status == 403);
  }

  TEST_CASE("maxStreamDuration ends a tunnel that is busy all along") {
    ws_upstream up;
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: short}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  timeout: {http: {maxStreamDuration: 1s}}
)"));
    test_client c(gw.port());
    REQUIRE(c.send(handshake("/busy")));
    REQUIRE(c.read_until("\r\n\r\n").starts_with("HTTP/1.1 101"));
    // A message every 50 ms keeps the idle timeout (60 s) far away; only the
    // duration limit can end the tunnel, and it does while they still flow.
    int echoed = 0;
    bool closed = false;
    for (int i = 0; i < 400 && !closed; ++i) {
      if (!c.send(client_frame("tick"))) {
        closed = true;
        break;
      }
      if (has(c.read_until("tick", std::chrono::seconds(2)), "tick"))
        ++echoed;
      else
        closed = c.closed_by_peer(std::chrono::seconds(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(echoed > 0);
    CHECK(closed);
  }

  TEST_CASE("a WebSocket handshake to an HTTP/2 upstream goes on as a plain GET") {
    python_server h2("h2_upstream.py", {"echo"});  // answers with the request it got
    std::string yaml = app_route_yaml(h2.port());
    const std::string plain = "{name: http, port: 80}";
    yaml.replace(yaml.find(plain), plain.size(),
                 "{name: http, port: 80, appProtocol: kubernetes.io/h2c}");
    running_gateway gw(load_on_loopback(yaml));
    const client_response r = request(gw.port(), handshake("/h2"));
    CAPTURE(r.body);
    CHECK(r.status == 200);
    CHECK(has(r.body, "\"method\": \"GET\""));
    CHECK(!has(r.body, "\"upgrade\""));
    CHECK(!has(r.body, "\"connection\""));
  }

  TEST_CASE("RFC 8441: an HTTP/2 extended CONNECT becomes an HTTP/1.1 upgrade upstream") {
    ws_upstream up;
    temp_dir dir;
    gateway::server_options o;
    o.threads = 1;
    o.level = gateway::log_level::error;
    o.access_log = {dir.path + "/access.log", "%protocol% %method% %path% %status%"};
    gateway::server gw(load_on_loopback(app_route_yaml(up.port())), o);
    gw.start();
    const std::string port = std::to_string(gw.port());
    // The server announces extended CONNECT; the upstream's handshake gets
    // the Upgrade fields and a key of the gateway's making; the 101 is a
    // 200 here, with no Sec-WebSocket-Accept; messages echo both ways, a
    // large one across many DATA frames and window updates.
    auto got =
        script_lines("ws_h2_client.py", "{\"port\": " + port +
                                            ", \"path\": \"/headers\", \"expect_first\": true, "
                                            "\"messages\": [\"hello\"], \"sizes\": [300000]}");
    REQUIRE(got.size() == 1);
    CAPTURE(got[0]);
    CHECK(has(got[0], "\"enable_connect_protocol\": 1"));
    CHECK(has(got[0], "\"status\": 200"));
    CHECK_FALSE(has(got[0], "sec-websocket-accept"));
    CHECK(has(got[0], "\\\"upgrade\\\": \\\"websocket\\\""));
    CHECK(has(got[0], "\\\"sec-websocket-key\\\": \\\""));
    CHECK(has(got[0], "\\\"sec-websocket-version\\\": \\\"13\\\""));
    CHECK(has(got[0], "\"hello\", \"300000 bytes\"]"));
    CHECK(has(got[0], "\"close_answered\": true"));
    CHECK(has(got[0], "\"ended\": true"));
    const std::string log = file_once_it_has(dir.path + "/access.log", "HTTP/2 GET /headers 200");
    CAPTURE(log);
    CHECK(has(log, "HTTP/2 GET /headers 200"));
    // A :protocol the gateway does not carry is refused.
    got = script_lines("ws_h2_client.py", "{\"port\": " + port + ", \"protocol\": \"mqtt\"}");
    REQUIRE(got.size() == 1);
    CHECK(has(got[0], "\"status\": 400"));
  }
}
