// HTTP/2 downstream against real clients (curl, nghttp's h2load): h2c with
// prior knowledge and h2 by ALPN, bodies both ways under flow control, many
// streams on one connection, filters and the gateway's own answers per
// stream. The upstreams are HTTP/1.1.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "pipeline/request_steps.hpp"
#include "shell_run.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

TEST_SUITE("http2") {
  TEST_CASE(
      "h2c with prior knowledge: GET and POST go through the pipeline, HTTP/1.1 still served") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    const std::string got = h2c("-i -H 'x-test: one' '" + url(gw.port(), "/a/b?c=d") + "'");
    CHECK(got.starts_with("HTTP/2 200"));
    received_request seen = up.last();
    CHECK(seen.method == "GET");
    CHECK(seen.target == "/a/b?c=d");
    CHECK(seen.version == "HTTP/1.1");
    CHECK(seen.header("host") == "127.0.0.1:" + std::to_string(gw.port()));
    CHECK(seen.header("x-test") == "one");
    CHECK(seen.header("x-forwarded-proto") == "http");
    CHECK(seen.header("via") == "2 gateway");
    CHECK(!seen.header("x-request-id").empty());

    h2c("-d 'hello there' '" + url(gw.port(), "/post") + "'");
    seen = up.last();
    CHECK(seen.method == "POST");
    CHECK(seen.body == "hello there");
    CHECK(seen.header("content-length") == "11");

    // Cookies split into several fields (RFC 9113 §8.2.3) reach an
    // HTTP/1.1 upstream as one.
    h2c("-H 'cookie: a=1' -H 'cookie: b=2' '" + url(gw.port(), "/c") + "'");
    CHECK(up.last().header("cookie") == "a=1; b=2");

    // The same port still serves HTTP/1.1.
    CHECK(request(gw.port(), "GET /h1 HTTP/1.1\r\nhost: x\r\n\r\n").status == 200);
    CHECK(up.last().header("via") == "1.1 gateway");
  }

  TEST_CASE("large bodies both ways under flow control") {
    constexpr std::uint64_t upload = 6 * 1024 * 1024 + 123;
    constexpr std::uint64_t download = 9 * 1024 * 1024 + 7;
    test_upstream up([&](const received_request& r) {
      response_plan p;
      if (r.target == "/down") p.generated_bytes = download;
      if (r.target == "/down-chunked") {
        p.generated_bytes = download;
        p.mode = response_plan::framing::chunked;
      }
      return p;
    });
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    temp_dir dir;
    write_pattern(dir.path + "/up", upload);

    // Known length: the upstream gets it with its Content-Length.
    std::string said = h2c("--data-binary @" + dir.path + "/up -o /dev/null -w '%{http_code}' '" +
                           url(gw.port(), "/up") + "'");
    CHECK(said == "200");
    received_request seen = up.last();
    CHECK(seen.target == "/up");
    CHECK(seen.digest.matches_pattern_of(upload));
    CHECK(seen.header("content-length") == std::to_string(upload));
    // Unknown length (no content-length from the client): chunked upstream.
    said = h2c("-T " + dir.path + "/up -H 'content-length:' -o /dev/null -w '%{http_code}' '" +
               url(gw.port(), "/up2") + "'");
    CHECK(said == "200");
    seen = up.last();
    CHECK(seen.target == "/up2");
    CHECK(seen.digest.matches_pattern_of(upload));

    for (const char* path : {"/down", "/down-chunked"}) {
      CAPTURE(path);
      const std::string file = dir.path + "/down";
      h2c("-o " + file + " '" + url(gw.port(), path) + "'");
      CHECK(file_has_pattern(file, download));
    }
  }

  TEST_CASE("a hundred concurrent streams on one connection") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.body = "ok";
      p.delay = std::chrono::milliseconds(100);
      return p;
    });
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    int status = 0;
    const std::string out =
        run("h2load -n 100 -c 1 -m 100 '" + url(gw.port(), "/s") + "' 2>&1", &status);
    CAPTURE(out);
    CHECK(status == 0);
    CHECK(out.find("100 succeeded") != std::string::npos);
    CHECK(out.find("status codes: 100 2xx") != std::string::npos);
    CHECK(up.requests() == 100);
    // One client connection; the streams were in flight together, so the
    // upstream needed more than one connection for them.
    CHECK(up.connections() > 1);
  }

  TEST_CASE("ClientTrafficPolicy http2 sets what clients are told, and they keep to it") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(
        app_route_yaml(up.port()) +
        "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
        "metadata: {name: client}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
        "kind: Gateway, name: web}]\n  http2: {maxConcurrentStreams: 3, initialStreamWindowSize: "
        "128Ki, initialConnectionWindowSize: 2Mi}\n"));
    int status = 0;
    const std::string seen = run("nghttp -v '" + url(gw.port(), "/s") + "'", &status);
    CAPTURE(seen);
    CHECK(status == 0);
    CHECK(seen.find("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):3]") != std::string::npos);
    CHECK(seen.find("[SETTINGS_INITIAL_WINDOW_SIZE(0x04):131072]") != std::string::npos);
    // The connection window opens from the protocol's 65535 to 2 MiB.
    CHECK(seen.find("(window_size_increment=" + std::to_string(2 * 1024 * 1024 - 65535) + ")") !=
          std::string::npos);
    // Streams over the limit (a client may send them before it has our
    // SETTINGS) are refused, not served: nghttp2 enforces what we announce.
    const std::string load =
        run("h2load -n 30 -c 1 -m 10 '" + url(gw.port(), "/s") + "' 2>&1", &status);
    CAPTURE(load);
    CHECK(load.find("30 done") != std::string::npos);
    const std::size_t at = load.find(" succeeded");
    REQUIRE(at != std::string::npos);
    const std::size_t from = load.rfind(' ', at - 1) + 1;
    const int succeeded = std::stoi(load.substr(from, at - from));
    CHECK(succeeded >= 3);
    // Only the served streams reached the upstream (after the nghttp one above).
    CHECK(eventually([&] { return up.requests() == static_cast<std::size_t>(succeeded) + 1; }));

    // The same settings from C++ are checked when the server is made.
    auto cfg = proxy_config({up.port()});
    cfg.listeners[0].http2.initial_stream_window = 1000;
    std::string why;
    try {
      gateway::server refused(cfg, {});
    } catch (const gateway::error& e) {
      why = e.what();
    }
    CHECK(why.find("http2 windows must be 65535 to 2^31-1 bytes") != std::string::npos);
  }

  TEST_CASE("filters, redirects and the gateway's own answers per stream") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(
        up.port(),
        "    filters:\n"
        "    - type: RequestHeaderModifier\n"
        "      requestHeaderModifier: {add: [{name: x-added, value: by-gateway}]}\n"
        "    - type: ResponseHeaderModifier\n"
        "      responseHeaderModifier: {set: [{name: x-resp, value: set}]}\n"
        "  - matches: [{path: {type: PathPrefix, value: /old}}]\n"
        "    filters:\n"
        "    - type: RequestRedirect\n"
        "      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}, "
        "statusCode: 301}\n")));
    const std::string plain = h2c("-i '" + url(gw.port(), "/x") + "'");
    CHECK(plain.starts_with("HTTP/2 200"));
    CHECK(plain.find("x-resp: set") != std::string::npos);
    CHECK(up.last().header("x-added") == "by-gateway");

    const std::string moved = h2c("-i '" + url(gw.port(), "/old/thing") + "'");
    CAPTURE(moved);
    CHECK(moved.starts_with("HTTP/2 301"));
    // The Location an HTTP/1.1 client gets for the same request.
    const client_response h1 = request(gw.port(), "GET /old/thing HTTP/1.1\r\nhost: 127.0.0.1:" +
                                                      std::to_string(gw.port()) + "\r\n\r\n");
    REQUIRE(h1.status == 301);
    CHECK(moved.find("location: " + h1.header("location") + "\r\n") != std::string::npos);
    CHECK(moved.find("x-request-id: ") != std::string::npos);

    // A malformed path escape is refused before routing, on this stream only.
    const std::string refused = h2c("-i '" + url(gw.port(), "/bad%zz") + "'");
    CHECK(refused.starts_with("HTTP/2 400"));
    CHECK(h2c("-i '" + url(gw.port(), "/after") + "'").starts_with("HTTP/2 200"));
    // Its answer to HEAD: the length of what GET would get, in a HEADERS
    // frame that ends the stream (no DATA).
    const std::string head =
        run("nghttp -v -H ':method: HEAD' '" + url(gw.port(), "/bad%zz") + "'");
    CAPTURE(head);
    CHECK(head.find(":status: 400") != std::string::npos);
    CHECK(head.find("content-length: " + std::to_string(gateway::refused_request_body.size())) !=
          std::string::npos);
    CHECK(head.find("recv HEADERS frame <length=") != std::string::npos);
    CHECK(head.find("flags=0x05, stream_id=13>") != std::string::npos);  // END_STREAM | END_HEADERS
    CHECK(head.find("recv DATA frame") == std::string::npos);
  }

  TEST_CASE("every HTTPRoute filter and a WAF deny over h2") {
    temp_dir dir;
    test_upstream up(echo);
    test_upstream shadow(echo);
    const std::string yaml =
        app_route_yaml(up.port(),
                       "    matches: [{path: {type: PathPrefix, value: /api}}]\n"
                       "    filters:\n"
                       "    - type: URLRewrite\n"
                       "      urlRewrite: {hostname: internal.svc, path: {type: "
                       "ReplacePrefixMatch, replacePrefixMatch: /v1}}\n"
                       "    - type: RequestMirror\n"
                       "      requestMirror: {backendRef: {name: shadow, port: 80}}\n"
                       "    - type: CORS\n"
                       "      cors: {allowOrigins: [\"https://app.example\"], allowMethods: [GET, "
                       "PUT], maxAge: 600}\n"
                       "    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: "
                       "Filter, name: tidy}}\n") +
        service_yaml("shadow", shadow.port()) +
        "---\napiVersion: gateway.dev/v1alpha1\nkind: Filter\nmetadata: {name: tidy}\nspec:\n"
        "  type: headers\n  config:\n    request: {set: [{name: x-env, value: prod}]}\n"
        "    response: {add: [{name: x-frame-options, value: DENY}]}\n"
        "---\napiVersion: gateway.dev/v1alpha1\nkind: WafPolicy\nmetadata: {name: waf}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]\n"
        "  ruleSet: {crs: {paranoiaLevel: 1}}\n  log: {path: " +
        dir.path + "/waf.log, format: JSON}\n";
    running_gateway gw(load_on_loopback(yaml));
    const std::string got =
        h2c("-i -H 'origin: https://app.example' -H 'user-agent: Mozilla/5.0' "
            "-H 'accept: text/html' '" +
            url(gw.port(), "/api/items?page=2") + "'");
    CAPTURE(got);
    CHECK(got.starts_with("HTTP/2 200"));
    CHECK(got.find("access-control-allow-origin: https://app.example") != std::string::npos);
    CHECK(got.find("x-frame-options: DENY") != std::string::npos);
    const received_request seen = up.last();
    CHECK(seen.target == "/v1/items?page=2");
    CHECK(seen.header("host") == "internal.svc");
    CHECK(seen.header("x-env") == "prod");
    CHECK(eventually([&] { return shadow.requests() == 1; }));
    CHECK(shadow.last().target == "/v1/items?page=2");

    const std::string preflight =
        h2c("-i -X OPTIONS -H 'origin: https://app.example' -H 'access-control-request-method: "
            "PUT' '" +
            url(gw.port(), "/api/items") + "'");
    CAPTURE(preflight);
    CHECK(preflight.starts_with("HTTP/2 204"));
    CHECK(preflight.find("access-control-allow-methods: GET, PUT") != std::string::npos);
    CHECK(preflight.find("access-control-max-age: 600") != std::string::npos);

    // The CRS on an SQL injection: denied on that stream, before the upstream.
    const std::size_t before = up.requests();
    const std::string denied =
        h2c("-i -H 'user-agent: Mozilla/5.0' -H 'accept: text/html' '" +
            url(gw.port(), "/api/search?q=1%27%20OR%20%271%27%3D%271") + "'");
    CAPTURE(denied);
    CHECK(denied.starts_with("HTTP/2 403"));
    CHECK(up.requests() == before);
    // The rules saw the Host :authority stands for (no "missing Host" anomaly).
    std::string waf_log;
    CHECK(eventually([&] {
      std::ifstream in(dir.path + "/waf.log");
      waf_log.assign(std::istreambuf_iterator<char>(in), {});
      return waf_log.find("942100") != std::string::npos;
    }));
    CAPTURE(waf_log);
    CHECK(waf_log.find("920280") == std::string::npos);
  }

  TEST_CASE("request bodies never read give the connection's window back") {
    // Twenty 1 MiB uploads on one connection (stream windows of 1 MiB, a
    // 2 MiB connection window) to a route that answers without reading them:
    // what each stream received beyond the body budget must go back to the
    // connection when the stream ends, or the window is gone after two.
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(
        app_route_yaml(up.port(),
                       "  - matches: [{path: {type: PathPrefix, value: /old}}]\n"
                       "    filters:\n    - type: RequestRedirect\n"
                       "      requestRedirect: {hostname: new.example, statusCode: 301}\n") +
        "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
        "metadata: {name: client}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
        "kind: Gateway, name: web}]\n  http2: {initialStreamWindowSize: 1Mi, "
        "initialConnectionWindowSize: 2Mi}\n"));
    temp_dir dir;
    write_pattern(dir.path + "/body", 1024 * 1024);
    int status = 0;
    const std::string out = run(
        "h2load -n 20 -c 1 -m 1 -d " + dir.path + "/body '" + url(gw.port(), "/old/x") + "' 2>&1",
        &status);
    CAPTURE(out);
    CHECK(status == 0);
    CHECK(out.find("20 succeeded") != std::string::npos);
    CHECK(out.find("status codes: 0 2xx, 20 3xx") != std::string::npos);
    CHECK(up.requests() == 0);
  }

  TEST_CASE("response trailers from a chunked HTTP/1.1 upstream reach an h2 client") {
    test_upstream up(
        answer_raw("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n"
                   "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"));
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    int status = 0;
    const std::string out = run("nghttp -v '" + url(gw.port(), "/t") + "'", &status);
    CAPTURE(out);
    CHECK(status == 0);
    CHECK(out.find("hello world") != std::string::npos);
    // After the body, a HEADERS frame that ends the stream, with the field
    // lowercased as HTTP/2 wants.
    const std::size_t body_at = out.find("hello world");
    const std::size_t trailer_at = out.find("x-sum: 42");
    REQUIRE(trailer_at != std::string::npos);
    CHECK(trailer_at > body_at);
    CHECK(out.find("flags=0x05", trailer_at) != std::string::npos);
  }

  TEST_CASE("the access log and the stats see each stream") {
    test_upstream up(echo);
    temp_dir dir;
    gateway::server_options o;
    o.threads = 1;
    o.level = gateway::log_level::error;
    o.access_log = {dir.path + "/access.log", "%protocol% %method% %path% %status%"};
    gateway::server gw(load_on_loopback(app_route_yaml(up.port())), o);
    gw.start();
    // Two streams on one connection (curl 7.88 cannot reuse a prior-knowledge
    // connection; nghttp fetches both over one).
    int status = 0;
    run("nghttp -n '" + url(gw.port(), "/one") + "' '" + url(gw.port(), "/two") + "'", &status);
    CHECK(status == 0);
    REQUIRE(request(gw.port(), "GET /three HTTP/1.1\r\nhost: x\r\n\r\n").status == 200);
    std::string log;
    CHECK(eventually([&] {
      std::ifstream in(dir.path + "/access.log");
      log.assign(std::istreambuf_iterator<char>(in), {});
      return std::count(log.begin(), log.end(), '\n') >= 3;
    }));
    CAPTURE(log);
    CHECK(log.find("HTTP/2 GET /one 200\n") != std::string::npos);
    CHECK(log.find("HTTP/2 GET /two 200\n") != std::string::npos);
    CHECK(log.find("HTTP/1.1 GET /three 200\n") != std::string::npos);
    CHECK(metric(gw, "gateway_downstream_requests_total{protocol=\"HTTP/2\"}") == 2);
    CHECK(metric(gw, "gateway_downstream_requests_total{protocol=\"HTTP/1.1\"}") == 1);
    CHECK(metric(gw, "gateway_upstream_requests_total{protocol=\"HTTP/1.1\"}") == 3);
    CHECK(metric(gw, "gateway_upstream_requests_total{protocol=\"HTTP/2\"}") == 0);
  }

  TEST_CASE("a graceful stop sends GOAWAY and lets the open stream finish") {
    test_upstream up([](const received_request&) {
      response_plan p;
      p.body = "finished";
      p.delay = std::chrono::milliseconds(500);
      return p;
    });
    gateway::server_options o;
    o.threads = 1;
    o.level = gateway::log_level::error;
    gateway::server gw(load_on_loopback(app_route_yaml(up.port())), o);
    gw.start();
    const std::uint16_t port = gw.port();
    std::string got;
    std::thread client([&] { got = h2_attack("graceful", port, "/slow"); });
    // Stop once the request is with the upstream (it answers 500 ms later).
    const bool asked = eventually([&] { return up.connections() > 0; });
    gw.stop(std::chrono::seconds(10));
    client.join();
    CHECK(asked);
    CAPTURE(got);
    // Both, whichever came first: the stop announced (no stream after 1) and
    // the open stream answered in full.
    CHECK(got.find("goaway 0 last 1") != std::string::npos);
    CHECK(got.find("status 200") != std::string::npos);
    CHECK((got.ends_with("end") || got.find("end, ") != std::string::npos));
  }

  TEST_CASE("h2 by ALPN on an HTTPS listener that offers it") {
    test_pki pki;
    test_upstream up(echo);
    const std::string yaml =
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web}\n"
        "spec:\n  gatewayClassName: any\n  listeners:\n"
        "  - name: https\n    port: 443\n    protocol: HTTPS\n"
        "    tls: {mode: Terminate, certificateRefs: [{name: cert}]}\n" +
        service_yaml("app", up.port()) +
        "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: app}\n"
        "spec:\n  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: app, port: "
        "80}]\n" +
        tls_secret_yaml(pki, "cert", "server") +
        "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\n"
        "metadata: {name: client}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, "
        "kind: Gateway, name: web}]\n  tls: {alpnProtocols: [h2, http/1.1]}\n";
    running_gateway gw(load_on_loopback(yaml));
    // The test certificate names upstream.test.
    const std::string base = "curl -sS --max-time 30 -i --cacert " + pki.path("ca.crt") +
                             " --resolve upstream.test:" + std::to_string(gw.port()) +
                             ":127.0.0.1 https://upstream.test:" + std::to_string(gw.port());
    const std::string h2 = run(base + "/tls --http2 2>&1");
    CAPTURE(h2);
    CHECK(h2.starts_with("HTTP/2 200"));
    CHECK(up.last().header("x-forwarded-proto") == "https");
    CHECK(up.last().header("via") == "2 gateway");
    // A client that offers only http/1.1 gets it.
    CHECK(run(base + "/tls --http1.1 2>&1").starts_with("HTTP/1.1 200"));
  }
}

TEST_SUITE("http2 defences") {
  // After each attack the gateway still serves a well-behaved client.
  void served(std::uint16_t port) {
    CHECK(h2c("-o /dev/null -w '%{http_code}' '" + url(port, "/fine") + "'") == "200");
  }

  TEST_CASE("rapid reset: streams opened and reset faster than served end the connection") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    const std::string got = h2_attack("rapid-reset", gw.port(), "3000");
    CHECK(got.starts_with("goaway"));
    // The bucket lets 1000 through at most before the GOAWAY; each may have
    // reached the upstream, far fewer than the 3000 asked for.
    CHECK(up.requests() <= 1100);
    served(gw.port());
  }

  TEST_CASE("CONTINUATION flood: a head in endless frames ends the connection") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    CHECK(h2_attack("continuation", gw.port(), "10000").starts_with("goaway"));
    CHECK(up.requests() == 0);
    served(gw.port());
  }

  TEST_CASE("HPACK bomb: a head that decodes over the limit gets 431, not the memory") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    const std::uint64_t before = current_rss();
    // 20,000 references to a 3 KiB field: 60 MB decoded from 20 KB sent.
    CHECK(h2_attack("hpack-bomb", gw.port(), "20000") == "status 431");
    CHECK(current_rss() < before + 32 * 1024 * 1024);
    CHECK(up.requests() == 0);
    served(gw.port());
  }

  TEST_CASE("PING flood from a client that does not read ends the connection") {
    test_upstream up(echo);
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    const std::uint64_t before = current_rss();
    const std::string got = h2_attack("ping-flood", gw.port(), "2000000");
    CAPTURE(got);
    // The acknowledgements it does not read stop at a bound: GOAWAY, or a
    // reset once the GOAWAY cannot be written either.
    CHECK((got.starts_with("goaway") || got.starts_with("reset") || got.starts_with("eof")));
    CHECK(current_rss() < before + 32 * 1024 * 1024);
    served(gw.port());
  }

  TEST_CASE("SETTINGS, WINDOW_UPDATE and empty DATA floods end with GOAWAY ENHANCE_YOUR_CALM") {
    test_upstream up([](const received_request& r) {
      response_plan p;
      p.body = "ok";
      // The empty DATA goes to a stream still open.
      if (r.target == "/slow") p.delay = std::chrono::milliseconds(200);
      return p;
    });
    running_gateway gw(load_on_loopback(app_route_yaml(up.port())));
    for (const char* kind : {"settings", "window-update", "empty-data"}) {
      CAPTURE(kind);
      CHECK(h2_attack("control-flood", gw.port(), std::string(kind) + " 200000") == "goaway 11");
      served(gw.port());
    }
    // Ordinary traffic never meets the limit: many requests and responses on
    // few connections, with the WINDOW_UPDATEs a client sends for them.
    int status = 0;
    const std::string out =
        run("h2load -n 3000 -c 2 -m 10 '" + url(gw.port(), "/") + "' 2>&1", &status);
    CAPTURE(out);
    CHECK(out.find("status codes: 3000 2xx") != std::string::npos);
  }

  TEST_CASE("a stream that never reads its response is reset at the idle timeout, memory flat") {
    constexpr std::uint64_t big = 256 * 1024 * 1024;
    test_upstream up([&](const received_request&) {
      response_plan p;
      p.generated_bytes = big;
      return p;
    });
    auto cfg = load_on_loopback(app_route_yaml(up.port()));
    cfg.listeners[0].limits.stream_idle_timeout = std::chrono::seconds(1);
    running_gateway gw(std::move(cfg));
    const std::uint64_t before = current_rss();
    // SETTINGS_INITIAL_WINDOW_SIZE 0: the head can come, no byte of the body.
    const std::string got = h2_attack("stall", gw.port(), "/big");
    CHECK(got == "rst 8 head=True");  // CANCEL
    CHECK(current_rss() < before + 32 * 1024 * 1024);
    served(gw.port());
  }

  TEST_CASE("each stream's deadline holds on a shared connection, the earliest first") {
    // /long waits up to 60 s for its upstream, /short 300 ms; neither
    // upstream answer comes in time. The connection's one timer for its
    // streams' deadlines must end /short, asked after /long, with a 504
    // while /long still waits, and the connection goes on serving: a
    // stream asked once /short answered gets its 200. (How the timer is
    // pulled in by an earlier deadline and goes on to the next by itself is
    // the watchdog group's unit test; here the upstream connections' own
    // connect deadlines wake it too.)
    test_upstream up([](const received_request& r) {
      response_plan p;
      if (r.target == "/long" || r.target == "/short") p.delay = std::chrono::seconds(90);
      return p;
    });
    running_gateway gw(load_on_loopback(app_route_yaml(up.port(),
                                                       "  - matches: [{path: {type: PathPrefix, "
                                                       "value: /long}}]\n"
                                                       "    backendRefs: [{name: app, port: 80}]\n"
                                                       "    timeouts: {request: 60s}\n"
                                                       "  - matches: [{path: {type: PathPrefix, "
                                                       "value: /short}}]\n"
                                                       "    backendRefs: [{name: app, port: 80}]\n"
                                                       "    timeouts: {request: 300ms}\n")));
    CHECK(h2_attack("deadlines", gw.port(), "") == "3:504 5:200");
    served(gw.port());
  }
}
