// HTTP/2 to upstreams: a Python h2 server (tests/support/h2_upstream.py) for
// what the upstream sees and does (GOAWAY, REFUSED_STREAM), and a second
// gateway as an h2c or h2 upstream for end-to-end runs with real clients
// (curl, nghttp, h2load) in front: HTTP/1.1 or HTTP/2 in, HTTP/2 out.
#include <atomic>
#include <fstream>
#include <iterator>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "python_server.hpp"
#include "shell_run.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

// The Python h2 upstream in `mode`, on a port it picked; killed on destruction.
struct h2_upstream : python_server {
  explicit h2_upstream(const std::string& mode) : python_server("h2_upstream.py", {mode}) {}
};

// app_route_yaml with the Service's port saying it speaks h2c.
std::string h2c_route_yaml(std::uint16_t port, const std::string& rule_lines = "") {
  std::string yaml = app_route_yaml(port, rule_lines);
  const std::string plain = "{name: http, port: 80}";
  yaml.replace(yaml.find(plain), plain.size(),
               "{name: http, port: 80, appProtocol: kubernetes.io/h2c}");
  return yaml;
}

std::string http_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return s;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The first series of `name` in `s`'s metrics (whatever its labels), or -1.
long long first_series(gateway::server& s, const std::string& name) {
  const std::string text = s.stats_text();
  const std::size_t at = text.find("\n" + name + "{");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(text.find("} ", at) + 2));
}

std::string post(std::uint16_t port, const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nhost: 127.0.0.1:" + std::to_string(port) +
         "\r\ncontent-length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_SUITE("http2 upstream") {
  TEST_CASE("HTTP/1.1 and h2 clients to an h2c upstream: the request it gets, bodies, trailers") {
    h2_upstream up("echo");
    running_gateway gw(load_on_loopback(h2c_route_yaml(up.port())));
    const std::string authority = "127.0.0.1:" + std::to_string(gw.port());

    // An HTTP/1.1 GET: pseudo-fields from the request line and Host, which
    // does not go on as a field of its own.
    client_response r = request(
        gw.port(), "GET /a/b?c=d HTTP/1.1\r\nhost: " + authority + "\r\nx-test: one\r\n\r\n");
    REQUIRE(r.status == 200);
    CAPTURE(r.body);
    CHECK(has(r.body, "\"method\": \"GET\""));
    CHECK(has(r.body, "\"path\": \"/a/b?c=d\""));
    CHECK(has(r.body, "\"authority\": \"" + authority + "\""));
    CHECK(has(r.body, "\"scheme\": \"http\""));
    CHECK(has(r.body, "[\"x-test\", \"one\"]"));
    CHECK(has(r.body, "[\"x-forwarded-proto\", \"http\"]"));
    CHECK(has(r.body, "[\"via\", \"1.1 gateway\"]"));
    CHECK(!has(r.body, "[\"host\""));
    CHECK(r.header("via") == "2 gateway");
    CHECK(r.header("x-stream") == "1");

    // Connection-specific fields stay behind (RFC 9113 §8.2.2), but a
    // client that takes trailers says so upstream.
    r = request(gw.port(),
                "GET /te HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: te, "
                "x-hop\r\nx-hop: 1\r\nkeep-alive: timeout=5\r\nproxy-connection: "
                "keep-alive\r\nx-end: 1\r\n\r\n");
    CAPTURE(r.body);
    CHECK(has(r.body, "[\"te\", \"trailers\"]"));
    CHECK(has(r.body, "[\"x-end\", \"1\"]"));
    for (const char* gone :
         {"\"connection\"", "\"x-hop\"", "\"keep-alive\"", "\"proxy-connection\""})
      CHECK(!has(r.body, gone));
    r = request(gw.port(), "GET /te HTTP/1.1\r\nhost: x\r\nte: gzip\r\nconnection: te\r\n\r\n");
    CHECK(!has(r.body, "\"te\""));

    // A known length goes on as content-length; a chunked body as DATA of
    // unknown length, its trailers as a trailing HEADERS frame.
    r = request(gw.port(), post(gw.port(), "/p", "hello there"));
    CHECK(has(r.body, "\"body\": \"hello there\""));
    CHECK(has(r.body, "[\"content-length\", \"11\"]"));
    r = request(gw.port(),
                "POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n6\r\n world\r\n0\r\nx-req-sum: 42\r\n\r\n");
    CAPTURE(r.body);
    CHECK(has(r.body, "\"body\": \"hello world\""));
    CHECK(!has(r.body, "content-length"));
    CHECK(has(r.body, "\"trailers\": [[\"x-req-sum\", \"42\"]]"));

    // An h2 client: the same, and the upstream's trailers come back.
    const std::string h2 = h2c("-i -d 'from h2' '" + url(gw.port(), "/h2") + "'");
    CAPTURE(h2);
    CHECK(h2.starts_with("HTTP/2 200"));
    CHECK(has(h2, "\"body\": \"from h2\""));
    CHECK(has(h2, "[\"via\", \"2 gateway\"]"));
    int status = 0;
    const std::string t = run("nghttp -v '" + url(gw.port(), "/trailers") + "'", &status);
    CAPTURE(t);
    CHECK(status == 0);
    const std::size_t body_at = t.find("\"path\": \"/trailers\"");
    const std::size_t trailer_at = t.find("x-upstream-trailer: done");
    REQUIRE(body_at != std::string::npos);
    REQUIRE(trailer_at != std::string::npos);
    CHECK(trailer_at > body_at);

    // Large bodies both ways under both flow controls.
    constexpr std::uint64_t upload = 3 * 1024 * 1024 + 17;
    constexpr std::uint64_t download = 5 * 1024 * 1024 + 3;
    temp_dir dir;
    write_pattern(dir.path + "/up", upload);
    const std::string up_h2 =
        h2c("--data-binary @" + dir.path + "/up '" + url(gw.port(), "/upload") + "'");
    CHECK(has(up_h2, "\"body_length\": " + std::to_string(upload)));
    CHECK(has(up_h2, "\"body_is_pattern\": true"));
    const std::string up_h1 =
        run("curl -sS --max-time 30 -T " + dir.path + "/up -H 'transfer-encoding: chunked' '" +
            url(gw.port(), "/upload") + "'");
    CHECK(has(up_h1, "\"body_length\": " + std::to_string(upload)));
    CHECK(has(up_h1, "\"body_is_pattern\": true"));
    for (const bool over_h2 : {true, false}) {
      CAPTURE(over_h2);
      const std::string file = dir.path + "/down";
      const std::string path = "'" + url(gw.port(), "/size/" + std::to_string(download)) + "'";
      if (over_h2)
        h2c("-o " + file + " " + path);
      else
        run("curl -sS --max-time 30 -o " + file + " " + path);
      CHECK(file_has_pattern(file, download));
    }
  }

  TEST_CASE("requests share one upstream connection as streams") {
    h2_upstream up("echo");
    running_gateway gw(load_on_loopback(h2c_route_yaml(up.port())));
    int status = 0;
    const std::string out =
        run("h2load -n 300 -c 2 -m 20 '" + url(gw.port(), "/s") + "' 2>&1", &status);
    CAPTURE(out);
    CHECK(status == 0);
    CHECK(has(out, "300 succeeded"));
    // Forty at once from the clients, one connection upstream: the next
    // request is still on the first connection the upstream accepted.
    const client_response r = request(gw.port(), "GET /last HTTP/1.1\r\nhost: x\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.header("x-conn") == "1");
    CHECK(std::stoi(r.header("x-stream")) > 300);
  }

  TEST_CASE("GOAWAY: a stream the upstream did not take goes again on a new connection") {
    // The upstream answers the first stream of each connection, then says
    // GOAWAY (last stream: the first) to the second and closes.
    h2_upstream up("goaway-second");
    running_gateway gw(load_on_loopback(h2c_route_yaml(up.port())));
    for (int i = 1; i <= 4; ++i) {
      CAPTURE(i);
      // POST: not idempotent, and still sent again, since it was not processed.
      const std::string body = "body" + std::to_string(i);
      const client_response r = request(gw.port(), post(gw.port(), "/p", body));
      REQUIRE(r.status == 200);
      CHECK(has(r.body, "\"body\": \"" + body + "\""));
      CHECK(r.header("x-conn") == std::to_string(i));
      CHECK(r.header("x-stream") == "1");
    }
  }

  TEST_CASE("GOAWAY as a drain: the streams it took finish, new ones go elsewhere") {
    // The upstream answers GOAWAY (last stream: this one) to each connection's
    // first request, answers that request in full, then closes.
    h2_upstream up("goaway-first");
    running_gateway gw(load_on_loopback(h2c_route_yaml(up.port())));
    for (int i = 1; i <= 3; ++i) {
      CAPTURE(i);
      const client_response r = request(gw.port(), post(gw.port(), "/d", "drained"));
      REQUIRE(r.status == 200);
      CHECK(has(r.body, "\"body\": \"drained\""));
      CHECK(r.header("x-conn") == std::to_string(i));  // never a stream on a draining one
    }
  }

  TEST_CASE("REFUSED_STREAM: the request goes again") {
    h2_upstream up("refuse-once");
    running_gateway gw(load_on_loopback(h2c_route_yaml(up.port())));
    const client_response r = request(gw.port(), post(gw.port(), "/p", "once more"));
    REQUIRE(r.status == 200);
    CHECK(has(r.body, "\"body\": \"once more\""));
    CHECK(r.header("x-stream") == "3");  // stream 1 was refused
    // Two tries went upstream over HTTP/2, for one request from an HTTP/1.1 client.
    CHECK(metric(gw.server(), "gateway_upstream_requests_total{protocol=\"HTTP/2\"}") == 2);
    CHECK(eventually([&] {  // counted when the request ends, just after its answer
      return metric(gw.server(), "gateway_downstream_requests_total{protocol=\"HTTP/1.1\"}") == 1;
    }));
  }

  TEST_CASE("through two gateways: h2 in, h2c between, HTTP/1.1 out, and back") {
    constexpr std::uint64_t download = 9 * 1024 * 1024 + 7;
    test_upstream origin([&](const received_request& r) {
      response_plan p;
      if (r.target == "/down") {
        p.generated_bytes = download;
        p.mode = response_plan::framing::chunked;
      } else if (r.target == "/slow") {
        p.body = "ok";
        p.delay = std::chrono::milliseconds(100);
      } else if (r.target == "/trailers") {
        p.raw =
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n"
            "5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n";
      } else {
        return echo(r);
      }
      return p;
    });
    running_gateway inner(load_on_loopback(app_route_yaml(origin.port())));
    running_gateway outer(load_on_loopback(h2c_route_yaml(inner.port())));
    const std::string got = h2c("-i -H 'x-test: one' '" + url(outer.port(), "/a?b") + "'");
    CAPTURE(got);
    CHECK(got.starts_with("HTTP/2 200"));
    received_request seen = origin.last();
    CHECK(seen.target == "/a?b");
    CHECK(seen.header("x-test") == "one");
    CHECK(seen.header("via") == "2 gateway, 2 gateway");  // both hops received HTTP/2
    CHECK(seen.header("host") == "127.0.0.1:" + std::to_string(outer.port()));
    CHECK(has(got, "via: 1.1 gateway\r\nvia: 2 gateway\r\n"));  // back: HTTP/1.1, then HTTP/2

    // An upload from an HTTP/1.1 client, a chunked download to an h2 client.
    constexpr std::uint64_t upload = 6 * 1024 * 1024 + 123;
    temp_dir dir;
    write_pattern(dir.path + "/up", upload);
    CHECK(run("curl -sS --max-time 30 -o /dev/null -w '%{http_code}' --data-binary @" + dir.path +
              "/up '" + url(outer.port(), "/up") + "'") == "200");
    seen = origin.last();
    CHECK(seen.target == "/up");
    CHECK(seen.digest.matches_pattern_of(upload));
    h2c("-o " + dir.path + "/down '" + url(outer.port(), "/down") + "'");
    CHECK(file_has_pattern(dir.path + "/down", download));

    // Trailers from the origin reach an h2 client across both hops.
    int status = 0;
    const std::string t = run("nghttp -v '" + url(outer.port(), "/trailers") + "'", &status);
    CAPTURE(t);
    CHECK(status == 0);
    CHECK(has(t, "x-sum: 42"));

    // A hundred streams on one client connection, in flight together.
    const std::string load =
        run("h2load -n 100 -c 1 -m 100 '" + url(outer.port(), "/slow") + "' 2>&1", &status);
    CAPTURE(load);
    CHECK(status == 0);
    CHECK(has(load, "100 succeeded"));
    CHECK(has(load, "status codes: 100 2xx"));
  }

  TEST_CASE("h2 over TLS by ALPN, and an upstream that does not agree to it") {
    test_pki pki;
    test_upstream origin(echo);
    // The inner gateway: HTTPS offering the ALPN list each run names.
    auto inner_config = [&](std::vector<std::string> alpn) {
      auto cfg = proxy_config({origin.port()});
      gateway::listener_tls_config t;
      gateway::tls_certificate c;
      c.source = "test";
      c.cert_pem = pki.read("server.crt");
      c.key_pem = pki.read("server.key");
      t.certificates.push_back(c);
      t.alpn = std::move(alpn);
      cfg.listeners[0].tls = t;
      cfg.listeners[0].port = 443;
      return cfg;
    };
    auto outer_config = [&](std::uint16_t inner_port) {
      auto cfg = proxy_config({inner_port});
      auto& c = cfg.clusters[0];
      c.protocol = gateway::upstream_protocol::http2;
      c.tls.enabled = true;
      c.tls.ca_pem = pki.read("ca.crt");
      c.tls.sni = "upstream.test";
      return cfg;
    };
    {
      running_gateway inner(inner_config({"h2", "http/1.1"}));
      running_gateway outer(outer_config(inner.port()));
      const client_response r = request(outer.port(), "GET /tls HTTP/1.1\r\nhost: a\r\n\r\n");
      CHECK(r.status == 200);
      CHECK(origin.last().header("via") == "1.1 gateway, 2 gateway");
      CHECK(origin.last().header("x-forwarded-proto") == "https");
      // Each hop adds its own Via field: the inner's (it got HTTP/1.1), then ours.
      REQUIRE(r.count("via") == 2);
      CHECK(r.header("via") == "1.1 gateway");
    }
    {
      // One that refuses h2 says so in the handshake (no_application_protocol).
      running_gateway inner(inner_config({"http/1.1"}));
      captured_log log;
      auto outer = start_logged(outer_config(inner.port()), log);
      const client_response r = request(outer->port(), "GET /tls HTTP/1.1\r\nhost: a\r\n\r\n");
      CHECK(r.status == 503);
      CHECK(eventually([&] { return log.has("no application protocol"); }));
    }
    {
      // One that knows no ALPN completes the handshake without it: not h2 either.
      test_tls_upstream plain(pki);
      captured_log log;
      auto outer = start_logged(outer_config(plain.port()), log);
      const client_response r = request(outer->port(), "GET /tls HTTP/1.1\r\nhost: a\r\n\r\n");
      CHECK(r.status == 503);
      CHECK(eventually([&] { return log.has("ALPN failed: the upstream did not agree to h2"); }));
      CHECK(plain.requests() == 0);
    }
  }

  TEST_CASE("a stream that times out is reset upstream and its connection serves on") {
    test_upstream origin([](const received_request& r) {
      response_plan p;
      p.body = "done";
      if (r.target == "/slow") p.delay = std::chrono::milliseconds(1500);
      return p;
    });
    running_gateway inner(load_on_loopback(app_route_yaml(origin.port())));
    running_gateway outer(
        load_on_loopback(h2c_route_yaml(inner.port(), "    timeouts: {request: 200ms}\n")));
    CHECK(request(outer.port(), "GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").status == 504);
    const client_response r = request(outer.port(), "GET /fast HTTP/1.1\r\nhost: x\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.body == "done");
    // The reset ended the stream, not the connection: both went over one.
    CHECK(first_series(outer.server(), "gateway_upstream_endpoint_connections") == 1);
  }

  TEST_CASE(
      "an h2 upstream's response head over its cluster's limits: 502, the connection serves on") {
    h2_upstream up("echo");
    auto cfg = load_on_loopback(h2c_route_yaml(up.port()));
    REQUIRE(cfg.clusters.size() == 1);
    // Counted as HTTP/1.1 counts a head: :status 200 (14), content-length: 2
    // (19), x-pad: N (9 + N); so N = 158 is a head of exactly 200 bytes.
    cfg.clusters[0].max_response_head = 200;
    cfg.clusters[0].max_response_header_count = 5;
    running_gateway gw(cfg);
    auto ask = [&](const std::string& path) {
      return request(gw.port(), "GET " + path + " HTTP/1.1\r\nhost: x\r\n\r\n").status;
    };
    CHECK(ask("/pad/158") == 200);
    CHECK(ask("/pad/159") == 502);
    CHECK(ask("/fields/4") == 200);  // content-length and four more
    CHECK(ask("/fields/5") == 502);
    CHECK(metric(gw.server(), "gateway_limit_hits_total{limit=\"response_headers\"}") == 2);
    // Each refused once (not retried: it would recur), on the one connection:
    // the stream was reset, not the connection.
    CHECK(ask("/pad/1") == 200);
    CHECK(first_series(gw.server(), "gateway_upstream_endpoint_connections") == 1);
  }

  TEST_CASE("request trailers from an h2 client go on to h2 and HTTP/1.1 upstreams") {
    auto send = [](std::uint16_t port, const std::string& length) {
      std::string out = run(std::string(GATEWAY_TEST_PYTHON) +
                            " " GATEWAY_TEST_SUPPORT_DIR "/h2_attack.py trailers " +
                            std::to_string(port) + " /t " + length + " 2>&1");
      while (!out.empty() && out.back() == '\n')
        out.pop_back();
      return out;
    };
    h2_upstream up("echo");
    running_gateway to_h2(load_on_loopback(h2c_route_yaml(up.port())));
    for (const char* length : {"known", "unknown"}) {
      CAPTURE(length);
      const std::string got = send(to_h2.port(), length);
      CAPTURE(got);
      CHECK(got.starts_with("status 200 "));
      CHECK(has(got, "\"body\": \"hello\""));
      CHECK(has(got, "\"trailers\": [[\"x-req-sum\", \"42\"]]"));
    }
    // HTTP/1.1 carries trailers in a chunked body, which a body of unknown
    // length becomes.
    test_upstream origin(echo);
    running_gateway to_h1(load_on_loopback(app_route_yaml(origin.port())));
    CHECK(send(to_h1.port(), "unknown").starts_with("status 200 "));
    const received_request seen = origin.last();
    CHECK(seen.body == "hello");
    CHECK(seen.chunked);
    CHECK(has(seen.trailers, "x-req-sum: 42"));
  }

  TEST_CASE("an h2 upstream's trailers reach an HTTP/1.1 client in a chunked response") {
    test_upstream origin(
        answer_raw("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n"
                   "5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n"));
    running_gateway inner(load_on_loopback(app_route_yaml(origin.port())));
    running_gateway outer(load_on_loopback(h2c_route_yaml(inner.port())));
    const std::string got =
        run("curl -sS --max-time 30 --raw -i '" + url(outer.port(), "/t") + "'");
    CAPTURE(got);
    CHECK(has(got, "transfer-encoding: chunked"));
    CHECK(has(got, "5\r\nhello\r\n0\r\nx-sum: 42\r\n\r\n"));
  }

  TEST_CASE("large bodies both ways through an HTTP/2 hop keep memory flat") {
    constexpr std::uint64_t big = 256ull << 20;
    constexpr std::uint64_t rss_bound = 24ull << 20;  // both gateways, for 2 x `big` moved
    test_upstream origin([&](const received_request& r) {
      response_plan p;
      p.generated_bytes = big;
      p.headers.push_back({"x-received-ok", r.digest.matches_pattern_of(big) ? "yes" : "no"});
      return p;
    });
    // HTTP/1.1 in, h2c between the gateways, HTTP/1.1 to the origin.
    running_gateway inner(load_on_loopback(app_route_yaml(origin.port())));
    running_gateway outer(load_on_loopback(h2c_route_yaml(inner.port())));
    REQUIRE(request(outer.port(), "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", true).status == 200);
    REQUIRE(reset_peak_rss());
    const std::uint64_t before = current_rss();
    test_client c(outer.port());
    REQUIRE(c.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(big) +
                   "\r\n\r\n"));
    REQUIRE(c.send_pattern(big, std::chrono::seconds(240)));
    const client_response r = c.read_response(false, std::chrono::seconds(240));
    REQUIRE(r.status == 200);
    CHECK(r.header("x-received-ok") == "yes");
    CHECK(r.digest.matches_pattern_of(big));
    const std::uint64_t growth = peak_rss() - before;
    MESSAGE("peak RSS growth while moving 2 x ", big >> 20, " MiB: ", growth >> 20, " MiB");
    CHECK(growth < rss_bound);
  }

  TEST_CASE("a connection silent through a timeout takes no new stream") {
    h2_upstream up("echo");
    captured_log log;
    auto gw = start_logged(
        load_on_loopback(h2c_route_yaml(up.port(), "    timeouts: {request: 300ms}\n")), log);
    CHECK(request(gw->port(), "GET /first HTTP/1.1\r\nhost: x\r\n\r\n").header("x-conn") == "1");
    // The upstream stops reading the connection: this request times out...
    CHECK(request(gw->port(), "GET /hang HTTP/1.1\r\nhost: x\r\n\r\n").status == 504);
    CHECK(log.has("HTTP/2 connection silent through a request's timeout, retired"));
    // ...and the next goes on a new connection instead of the silent one.
    const client_response r = request(gw->port(), "GET /next HTTP/1.1\r\nhost: x\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.header("x-conn") == "2");
  }

  TEST_CASE("evaluate shows the request an HTTP/2 upstream would get, as it gets it") {
    h2_upstream up("echo");
    running_gateway gw(load_on_loopback(h2c_route_yaml(up.port())));
    gateway::evaluation_request q;
    q.method = "POST";
    q.url = "http://shop.test/cart?item=7";
    q.headers = {{"X-Trace", "abc"}, {"x-request-id", "fixed-id"}, {"te", "trailers"}};
    q.body = "tiny";
    const gateway::evaluation_result e = gw.server().evaluate(q);
    REQUIRE(e.upstream);
    CHECK(e.upstream->protocol == "HTTP/2");
    CHECK(e.upstream->method == "POST");
    CHECK(e.upstream->target == "/cart?item=7");
    REQUIRE(!e.upstream->headers.empty());
    CHECK(e.upstream->headers[0].first == ":authority");
    CHECK(e.upstream->headers[0].second == "shop.test");
    CHECK(e.upstream->body == "tiny");
    // Every field it shows is one the real request carries, in the same form.
    const client_response r =
        request(gw.port(),
                "POST /cart?item=7 HTTP/1.1\r\nhost: shop.test\r\nX-Trace: abc\r\n"
                "x-request-id: fixed-id\r\nte: trailers\r\nconnection: te\r\n"
                "content-length: 4\r\n\r\ntiny");
    REQUIRE(r.status == 200);
    CAPTURE(r.body);
    CHECK(has(r.body, "\"authority\": \"shop.test\""));
    for (std::size_t i = 1; i < e.upstream->headers.size(); ++i) {
      const auto& name = e.upstream->headers[i].first;
      const auto& value = e.upstream->headers[i].second;
      CAPTURE(name);
      CHECK(name == http_lower(name));
      CHECK(has(r.body, "[\"" + name + "\", \"" + value + "\"]"));
    }
    CHECK(has(gateway::to_json(e), "\"protocol\":\"HTTP/2\""));
  }

  TEST_CASE("a mirror to an HTTP/2 backend goes as HTTP/2, on a connection of its own") {
    test_upstream primary(echo);
    h2_upstream mirror("echo");
    // The route's backend is HTTP/1.1; the mirror's Service port says h2c.
    const std::string yaml =
        app_route_yaml(primary.port(),
                       "    filters:\n    - type: RequestMirror\n"
                       "      requestMirror: {backendRef: {name: mirror, port: 80}}\n") +
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: mirror}\nspec: {ports: [{name: "
        "http, port: 80, appProtocol: kubernetes.io/h2c}]}\n---\napiVersion: "
        "discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: mirror, labels: "
        "{kubernetes.io/service-name: mirror}}\naddressType: IPv4\nendpoints: [{addresses: "
        "[127.0.0.1]}]\nports: [{name: http, port: " +
        std::to_string(mirror.port()) + "}]\n";
    running_gateway gw(load_on_loopback(yaml));
    REQUIRE(request(gw.port(), post(gw.port(), "/copied", "mirror me")).status == 200);
    // An HTTP/1.1 request to an h2c-only server gets no response head; only
    // an HTTP/2 one counts as sent.
    CHECK(eventually([&] {
      return metric(gw.server(), "gateway_mirror_requests_total{result=\"sent\"}") == 1;
    }));
    CHECK(metric(gw.server(), "gateway_mirror_requests_total{result=\"failed\"}") == 0);
  }

  TEST_CASE("retries: an h2 client's request, retried as a new stream on the HTTP/2 hop") {
    std::atomic<int> seen{0};
    test_upstream origin([&](const received_request&) {
      response_plan p;
      p.status = ++seen == 1 ? 503 : 200;  // the first try fails
      p.body = p.status == 200 ? "second" : "busy";
      return p;
    });
    running_gateway inner(load_on_loopback(app_route_yaml(origin.port())));
    running_gateway outer(load_on_loopback(
        h2c_route_yaml(inner.port(), "    retry: {codes: [503], attempts: 2, backoff: 1ms}\n")));
    // (A GET: only idempotent methods are retried unless the policy names others.)
    const std::string got = h2c("-i '" + url(outer.port(), "/r") + "'");
    CAPTURE(got);
    CHECK(got.starts_with("HTTP/2 200"));
    CHECK(got.ends_with("second"));
    CHECK(origin.requests() == 2);
    CHECK(metric(outer.server(), "gateway_upstream_requests_total{protocol=\"HTTP/2\"}") == 2);
    // Both tries were streams of one connection.
    CHECK(first_series(outer.server(), "gateway_upstream_endpoint_connections") == 1);
  }

  TEST_CASE("many responses on one connection give the window back, ended streams too") {
    // 100 x 128 KiB is more than the 4 MiB connection window three times
    // over: every byte received must be given back, also the bytes of a
    // stream that ended before the client took them, or the upstream stops.
    h2_upstream up("echo");
    running_gateway gw(load_on_loopback(h2c_route_yaml(up.port())));
    int status = 0;
    // A client with a 16 KiB stream window takes each body slower than the
    // upstream sends it: the upstream's streams end before their bytes are
    // taken.
    const std::string out =
        run("h2load -n 100 -c 1 -m 4 -w 14 '" + url(gw.port(), "/size/131072") + "' 2>&1", &status);
    CAPTURE(out);
    CHECK(status == 0);
    CHECK(has(out, "100 succeeded"));
    const client_response r = request(gw.port(), "GET /last HTTP/1.1\r\nhost: x\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.header("x-conn") == "1");  // all on one upstream connection
  }

  TEST_CASE("a body read whole for the filters after the head left keeps the h2 request intact") {
    // The WAF reads the body before the upstream request goes; the body
    // arrives after the head, so reading it reuses the head's buffer space,
    // which the HTTP/2 request's fields must not point into any more.
    h2_upstream up("echo");
    running_gateway gw(load_on_loopback(
        h2c_route_yaml(up.port()) +
        "---\napiVersion: gateway.dev/v1alpha1\nkind: WafPolicy\nmetadata: {name: waf}\nspec:\n"
        "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]\n"
        "  ruleSet:\n    directives: |\n      SecRule ARGS:never \"@streq x\" "
        "\"id:10001,phase:2,deny,log\"\n"));
    test_client c(gw.port());
    REQUIRE(
        c.send("POST /later/path?q=1 HTTP/1.1\r\nhost: late.test\r\ncontent-type: "
               "application/x-www-form-urlencoded\r\ncontent-length: 11\r\nx-one: 1\r\n\r\n"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    REQUIRE(c.send("a=b&c=later"));
    const client_response r = c.read_response();
    CAPTURE(r.body);
    REQUIRE(r.status == 200);
    CHECK(has(r.body, "\"method\": \"POST\""));
    CHECK(has(r.body, "\"path\": \"/later/path?q=1\""));
    CHECK(has(r.body, "\"authority\": \"late.test\""));
    CHECK(has(r.body, "[\"x-one\", \"1\"]"));
    CHECK(has(r.body, "\"body\": \"a=b&c=later\""));
  }
}
