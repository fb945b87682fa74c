// The WAF through the real gateway with Debian's OWASP CRS: attacks blocked
// with their rule ids in the WAF log, ordinary traffic untouched, detection
// only, per-route exclusions, response body rules, request body limits, and
// a worker that keeps serving while a large body is inspected.
#include <gateway/asio.hpp>

#include <doctest/doctest.h>
#include <unistd.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "gateway_fixture.hpp"
#include "test_http.hpp"
#include "waf/evaluation_pool.hpp"

using namespace gwtest;
using namespace std::chrono_literals;

namespace {

// The evaluation threads at the workers' priority here: tests run side by
// side with other busy processes, which would otherwise starve them (the
// default nice +10 is for a gateway that owns its CPUs).
const bool pool_configured = (gateway::configure_waf_pool({0, 0}), true);

// A WAF log file of its own for each test, removed at the end.
struct temp_log {
  std::string path;
  temp_log() {
    static std::atomic<int> n{0};
    path =
        "/tmp/gateway-waf-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + ".log";
    std::remove(path.c_str());
  }
  ~temp_log() { std::remove(path.c_str()); }
  std::vector<boost::json::object> lines() const {
    std::ifstream in(path);
    std::vector<boost::json::object> out;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(boost::json::parse(line).as_object());
    return out;
  }
  std::string text() const {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Rule ids logged for one request.
  std::set<std::int64_t> rules_for(const std::string& request_id) const {
    std::set<std::int64_t> ids;
    for (const auto& l : lines())
      if (l.at("request_id").as_string() == request_id) ids.insert(l.at("rule_id").as_int64());
    return ids;
  }
};

std::string waf_policy(const std::string& name, const std::string& target_lines,
                       const std::string& spec_lines) {
  return "---\napiVersion: gateway.dev/v1alpha1\nkind: WafPolicy\nmetadata: {name: " + name +
         "}\nspec:\n  targetRefs:\n" + target_lines + spec_lines;
}

const std::string app_target =
    "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}\n";

std::string crs_spec(const std::string& log_path, const std::string& extra = "") {
  return "  ruleSet: {crs: {paranoiaLevel: 1}}\n  log: {path: " + log_path + ", format: JSON}\n" +
         extra;
}

// A browser-like request; `id` becomes its x-request-id.
std::string browser_request(const std::string& method, const std::string& target,
                            const std::string& id, const std::string& extra_fields = "",
                            const std::string& body = "") {
  std::string r = method + " " + target +
                  " HTTP/1.1\r\nhost: shop.example\r\nuser-agent: Mozilla/5.0 (X11; Linux "
                  "x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\naccept: "
                  "text/html,application/json;q=0.9,*/*;q=0.8\r\naccept-language: "
                  "en-US,en;q=0.5\r\nx-request-id: " +
                  id + "\r\n" + extra_fields;
  if (!body.empty() || method == "POST")
    r += "content-length: " + std::to_string(body.size()) + "\r\n";
  return r + "connection: close\r\n\r\n" + body;
}

bool any_in_range(const std::set<std::int64_t>& ids, std::int64_t from, std::int64_t to) {
  return ids.lower_bound(from) != ids.end() && *ids.lower_bound(from) < to;
}

std::string multipart(const std::string& boundary, const std::string& filename,
                      const std::string& type, const std::string& content) {
  return "--" + boundary +
         "\r\ncontent-disposition: form-data; name=\"title\"\r\n\r\nholiday pictures\r\n--" +
         boundary + "\r\ncontent-disposition: form-data; name=\"file\"; filename=\"" + filename +
         "\"\r\ncontent-type: " + type + "\r\n\r\n" + content + "\r\n--" + boundary + "--\r\n";
}

// The value of one series (name and labels as written) in the gateway's metrics.
std::uint64_t series_value(gateway::server& gw, const std::string& series) {
  const std::string text = gw.stats_text();
  const std::string line = "\n" + series + " ";  // not a # HELP line
  const std::size_t at = text.find(line);
  REQUIRE(at != std::string::npos);
  return std::stoull(text.substr(at + line.size()));
}
std::uint64_t series_value(running_gateway& gw, const std::string& series) {
  return series_value(gw.server(), series);
}

// The app route behind the CRS, one worker, with its upstream and match log.
struct crs_app {
  test_upstream up{echo};
  temp_log log;
  running_gateway gw{load_on_loopback(app_route_yaml(up.port()) +
                                      waf_policy("waf", app_target, crs_spec(log.path))),
                     1};
};

}  // namespace

TEST_SUITE("waf") {
  TEST_CASE("CRS blocks the common attacks with 403 and logs their rule ids") {
    test_upstream up(echo);
    temp_log log;
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) +
                                        waf_policy("waf", app_target, crs_spec(log.path))));
    struct attack {
      std::string name, request;
      std::int64_t from, to;  // the CRS rule ids that must appear
    };
    const std::string b = "x0x0boundary";
    const std::vector<attack> attacks = {
        {"sqli", browser_request("GET", "/search?q=1%27%20OR%20%271%27%3D%271", "a-sqli"), 942000,
         943000},
        {"xss",
         browser_request("GET", "/?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E", "a-xss"),
         941000, 942000},
        {"traversal",
         browser_request("GET", "/download?file=../../../../etc/passwd", "a-traversal"), 930000,
         931000},
        {"rce", browser_request("GET", "/ping?host=127.0.0.1%3Bcat%20/etc/passwd", "a-rce"), 932000,
         933000},
        {"php",
         browser_request("GET", "/?code=%3C%3Fphp%20system(%24_GET%5B%27c%27%5D)%3B%20%3F%3E",
                         "a-php"),
         933000, 934000},
        {"scanner",
         "GET / HTTP/1.1\r\nhost: shop.example\r\nuser-agent: sqlmap/1.7.2#stable "
         "(https://sqlmap.org)\r\naccept: */*\r\nx-request-id: a-scanner\r\nconnection: "
         "close\r\n\r\n",
         913100, 913101},
        {"upload",
         browser_request("POST", "/upload", "a-upload",
                         "content-type: multipart/form-data; boundary=" + b + "\r\n",
                         multipart(b, "shell.php", "application/octet-stream", "GIF89a hello")),
         933110, 933111},
    };
    for (const attack& a : attacks) {
      CAPTURE(a.name);
      auto r = request(gw.port(), a.request);
      CHECK(r.status == 403);
    }
    CHECK(up.requests() == 0);  // nothing reached the application
    for (const attack& a : attacks) {
      CAPTURE(a.name);
      auto ids = log.rules_for("a-" + a.name);  // each request carries its id
      CHECK(any_in_range(ids, a.from, a.to));
      CHECK(ids.count(949110));  // the inbound anomaly score that blocked it
    }
    // The JSON line carries what an operator needs.
    for (const auto& l : log.lines()) {
      if (l.at("rule_id").as_int64() != 949110 || l.at("request_id").as_string() != "a-sqli")
        continue;
      CHECK(l.at("action").as_string() == "deny");
      CHECK(l.at("route").as_string() == "default/app");
      CHECK(l.at("client").as_string() == "127.0.0.1");
      CHECK(l.at("mode").as_string() == "On");
      CHECK(!l.at("message").as_string().empty());
      CHECK(l.at("severity").as_int64() == 2);
      CHECK(l.at("tags").as_array().size() > 0);
    }
    // Metrics per rule id and action.
    const std::string stats = gw.server().stats_text();
    CHECK(stats.find("gateway_waf_rule_matches_total{rule_id=\"949110\",action=\"deny\"}") !=
          std::string::npos);
    CHECK(stats.find("gateway_waf_requests_total{decision=\"deny\"}") != std::string::npos);
  }

  TEST_CASE("ordinary traffic passes the CRS with no match") {
    test_upstream up(echo);
    temp_log log;
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) +
                                        waf_policy("waf", app_target, crs_spec(log.path))));
    std::vector<std::string> requests;
    int n = 0;
    auto id = [&] { return "ok-" + std::to_string(++n); };
    for (int page = 1; page <= 8; ++page)
      requests.push_back(browser_request(
          "GET", "/products?page=" + std::to_string(page) + "&sort=price&dir=asc", id()));
    for (const char* path :
         {"/caf%C3%A9/men%C3%BC", "/%E6%97%A5%E6%9C%AC%E8%AA%9E/%E3%83%9A%E3%83%BC%E3%82%B8",
          "/stra%C3%9Fe/%C3%BCber-uns", "/%D0%BA%D0%B0%D1%82%D0%B0%D0%BB%D0%BE%D0%B3",
          "/blog/2026/11/26/hello-world", "/static/app.3f9a1c.js", "/images/logo@2x.png",
          "/api/v1/users/42/orders?limit=20&offset=40"})
      requests.push_back(browser_request("GET", path, id()));
    std::string cookie = "cookie: session=";
    for (int i = 0; i < 40; ++i)
      cookie += "a3f9c1e7";
    cookie += "; theme=dark; lang=en-US; cart=item-1.item-7.item-9; consent=analytics%3Dno\r\n";
    for (int i = 0; i < 6; ++i)
      requests.push_back(browser_request("GET", "/account?tab=" + std::to_string(i), id(), cookie));
    const std::vector<std::string> forms = {
        "name=Alice+Smith&email=alice%40example.com&message=Hello%2C+I+would+like+a+quote+for+"
        "three+chairs.",
        "username=bob&password=correct+horse+battery+staple&remember=on",
        "q=blue+running+shoes&size=42&color=blue",
        "street=221B+Baker+Street&city=London&zip=NW1+6XE&country=GB",
        "comment=Great+product%21+Arrived+quickly+and+works+as+described.&rating=5",
        "first=J%C3%BCrgen&last=M%C3%BCller&city=M%C3%BCnchen",
        "amount=19.99&currency=EUR&card_holder=Jane+Doe",
        "title=Weekly+report&body=All+tasks+done%2C+see+attached+numbers.",
    };
    for (const std::string& f : forms)
      requests.push_back(browser_request("POST", "/forms/submit", id(),
                                         "content-type: application/x-www-form-urlencoded\r\n", f));
    const std::vector<std::string> json = {
        R"({"name":"Widget","price":9.99,"tags":["tools","garden"],"stock":{"warehouse":"north","count":12}})",
        R"({"user":{"id":42,"email":"carol@example.com","roles":["editor"]},"active":true})",
        R"({"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"coupon":null})",
        R"({"query":"running shoes","filters":{"size":[41,42],"color":"blue"},"page":2})",
        R"({"message":"Meeting moved to Thursday at 10:00, room 4.","notify":true})",
        R"({"lat":48.8566,"lon":2.3522,"label":"Paris office"})",
        R"({"title":"Résumé","body":"Straße, café, naïve — unicode text","lang":"fr"})",
        R"({"events":[{"type":"click","at":1700000000},{"type":"view","at":1700000005}]})",
    };
    for (const std::string& j : json)
      requests.push_back(
          browser_request("POST", "/api/v1/items", id(), "content-type: application/json\r\n", j));
    const std::string b = "----formboundary7MA4YWxkTrZu0gW";
    std::string png = "\x89PNG\r\n\x1a\n";
    for (int i = 0; i < 300; ++i)
      png.push_back(static_cast<char>((i * 37) & 0x7f));
    for (const char* file : {"holiday.png", "scan-2026.png", "avatar.png", "photo 1.png"})
      requests.push_back(browser_request(
          "POST", "/upload", id(), "content-type: multipart/form-data; boundary=" + b + "\r\n",
          multipart(b, file, "image/png", png)));
    for (int i = 0; i < 6; ++i)
      requests.push_back(browser_request("HEAD", "/products/" + std::to_string(100 + i), id()));
    requests.push_back(browser_request("OPTIONS", "/api/v1/items", id()));
    requests.push_back(browser_request("GET", "/search?q=how+to+select+a+good+table+saw", id()));
    REQUIRE(requests.size() >= 50);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      CAPTURE(requests[i]);
      auto r = request(gw.port(), requests[i], requests[i].rfind("HEAD", 0) == 0);
      CHECK(r.status == 200);
    }
    CHECK(up.requests() == requests.size());
    CHECK(log.text() == "");  // not one rule matched
  }

  TEST_CASE("DetectionOnly logs the matches and lets the request through") {
    test_upstream up(echo);
    temp_log log;
    running_gateway gw(load_on_loopback(
        app_route_yaml(up.port()) +
        waf_policy("waf", app_target, "  mode: DetectionOnly\n" + crs_spec(log.path))));
    auto r =
        request(gw.port(), browser_request("GET", "/search?q=1%27%20OR%20%271%27%3D%271", "d-1"));
    CHECK(r.status == 200);
    CHECK(up.requests() == 1);
    auto ids = log.rules_for("d-1");
    CHECK(any_in_range(ids, 942000, 943000));
    for (const auto& l : log.lines()) {
      CHECK(l.at("mode").as_string() == "DetectionOnly");
      CHECK(l.at("action").as_string() == "log");
    }
  }

  TEST_CASE("a per-route exclusion stops one false positive and nothing else") {
    test_upstream up(echo);
    temp_log log;
    // /admin takes SQL in its 'sql' argument on purpose; the rest of the
    // route, and every other route, keeps the full rule set.
    const std::string yaml =
        app_route_yaml(up.port(),
                       "  - matches: [{path: {type: PathPrefix, value: /admin}}]\n"
                       "    name: admin\n    backendRefs: [{name: app, port: 80}]\n") +
        waf_policy("waf", app_target, crs_spec(log.path)) +
        waf_policy("admin-sql",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: admin}\n",
                   crs_spec(log.path,
                            "  exclusions:\n  - {tags: [attack-sqli], targets: ['ARGS:sql']}\n"));
    running_gateway gw(load_on_loopback(yaml));
    const std::string sql = "SELECT%20name%20FROM%20users%20WHERE%20id%3D1%20OR%201%3D1";
    CHECK(request(gw.port(), browser_request("GET", "/admin/run?sql=" + sql, "x-1")).status == 200);
    CHECK(log.rules_for("x-1").empty());
    // The same text in another argument of the same rule is still blocked.
    CHECK(request(gw.port(), browser_request("GET", "/admin/run?note=" + sql, "x-2")).status ==
          403);
    // And in the same argument on another rule of the route.
    CHECK(request(gw.port(), browser_request("GET", "/run?sql=" + sql, "x-3")).status == 403);
    // Another attack class in the excluded argument is still caught.
    CHECK(request(gw.port(),
                  browser_request("GET", "/admin/run?sql=%3Cscript%3Ealert(1)%3C/script%3E", "x-4"))
              .status == 403);
    CHECK(any_in_range(log.rules_for("x-4"), 941000, 942000));
  }

  TEST_CASE("response body rules fire when the policy enables them") {
    const std::string leak =
        "<html><body>Error: You have an error in your SQL syntax; check the manual that "
        "corresponds to your MySQL server version for the right syntax to use near ''' at line "
        "1</body></html>";
    test_upstream up([&](const received_request&) {
      response_plan p;
      p.body = leak;
      p.headers = {{"content-type", "text/html; charset=utf-8"}};
      return p;
    });
    temp_log log;
    const std::string yaml =
        app_route_yaml(up.port(),
                       "  - matches: [{path: {type: PathPrefix, value: /plain}}]\n"
                       "    name: plain\n    backendRefs: [{name: app, port: 80}]\n") +
        waf_policy("waf", app_target, crs_spec(log.path, "  responseBody: {enabled: true}\n")) +
        waf_policy("no-body",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: plain}\n",
                   crs_spec(log.path));
    running_gateway gw(load_on_loopback(yaml));
    auto r = request(gw.port(), browser_request("GET", "/report", "r-1"));
    CHECK(r.status == 403);
    CHECK(r.body.find("SQL syntax") == std::string::npos);  // the leak never left
    auto ids = log.rules_for("r-1");
    CHECK(any_in_range(ids, 951000, 952000));
    CHECK(ids.count(959100));  // the outbound anomaly score
    // Without response body inspection the same page goes out.
    auto plain = request(gw.port(), browser_request("GET", "/plain/report", "r-2"));
    CHECK(plain.status == 200);
    CHECK(plain.body == leak);
  }

  TEST_CASE("request body over the policy's limit: 413, or the first part inspected") {
    test_upstream up(echo);
    temp_log log;
    const std::string yaml =
        app_route_yaml(up.port(),
                       "  - matches: [{path: {type: PathPrefix, value: /partial}}]\n"
                       "    name: partial\n    backendRefs: [{name: app, port: 80}]\n") +
        waf_policy("waf", app_target,
                   crs_spec(log.path, "  requestBody: {limit: 1024, overflow: Reject}\n")) +
        waf_policy("partial",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: partial}\n",
                   crs_spec(log.path, "  requestBody: {limit: 1024, overflow: ProcessPartial}\n"));
    running_gateway gw(load_on_loopback(yaml));
    const std::string ct = "content-type: application/x-www-form-urlencoded\r\n";
    std::string big = "comment=" + std::string(4000, 'a');
    CHECK(request(gw.port(), browser_request("POST", "/post", "b-1", ct, big)).status == 413);
    // ProcessPartial: the whole body goes upstream, the rules saw its first KiB.
    auto r = request(gw.port(), browser_request("POST", "/partial/post", "b-2", ct, big));
    CHECK(r.status == 200);
    CHECK(r.body.find("POST /partial/post 4008") != std::string::npos);
    // An attack in the first part is caught, one past the limit is not seen.
    std::string early = "q=1%27%20OR%20%271%27%3D%271&pad=" + std::string(4000, 'b');
    CHECK(request(gw.port(), browser_request("POST", "/partial/post", "b-3", ct, early)).status ==
          403);
    std::string late = "pad=" + std::string(4000, 'b') + "&q=1%27%20OR%20%271%27%3D%271";
    CHECK(request(gw.port(), browser_request("POST", "/partial/post", "b-4", ct, late)).status ==
          200);
  }
}

TEST_SUITE("waf") {
  TEST_CASE("a large body under inspection does not stall the other requests of its worker") {
    test_upstream up(echo);
    temp_log log;
    // One worker: the plain route and the WAF route share it.
    const std::string yaml =
        app_route_yaml(up.port(),
                       "  - matches: [{path: {type: PathPrefix, value: /waf}}]\n"
                       "    name: waf\n    backendRefs: [{name: app, port: 80}]\n"
                       // The inspection counts against the request timeout; under
                       // ASan on a loaded machine it once took more than the
                       // default 15 s. This test is about the other requests.
                       "    timeouts: {request: 300s}\n") +
        waf_policy("waf",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: waf}\n",
                   crs_spec(log.path, "  requestBody: {limit: 4000000}\n"));
    running_gateway gw(load_on_loopback(yaml), 1);
    // About a second of CRS work: 100 form fields of 10 KB each.
    std::string body;
    for (int i = 0; i < 100; ++i)
      body += (i ? "&f" : "f") + std::to_string(i) + "=" + std::string(10000, char('a' + i % 26));
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto big = std::async(std::launch::async, [&] {
      auto r = request(gw.port(),
                       browser_request("POST", "/waf/upload", "big-1",
                                       "content-type: application/x-www-form-urlencoded\r\n", body),
                       false, 120s);
      return std::make_pair(r.status, clock::now());
    });
    // The body is on its way; give the gateway a moment to start on it.
    std::this_thread::sleep_for(100ms);
    std::chrono::nanoseconds worst{0};
    clock::time_point last_done;
    int ok = 0;
    for (int i = 0; i < 20; ++i) {
      const auto t0 = clock::now();
      auto r = request(gw.port(), browser_request("GET", "/plain/" + std::to_string(i), "p"), false,
                       60s);
      last_done = clock::now();
      worst = std::max(worst, last_done - t0);
      ok += r.status == 200;
    }
    auto [big_status, big_done] = big.get();
    CHECK(big_status == 200);
    CHECK(ok == 20);
    const auto big_took = big_done - start;
    MESSAGE("large body: ", std::chrono::duration_cast<std::chrono::milliseconds>(big_took).count(),
            " ms; slowest of 20 plain requests meanwhile: ",
            std::chrono::duration_cast<std::chrono::microseconds>(worst).count(), " us");
    // The plain requests were all answered while the body was still being inspected.
    CHECK(last_done < big_done);
    CHECK(worst < big_took / 4);
  }

  TEST_CASE("phases with no body run on the worker's thread, a body's on the evaluation pool") {
    crs_app app;
    running_gateway& gw = app.gw;
    auto phases = [&](const std::string& thread) {
      return series_value(gw, "gateway_waf_phases_total{thread=\"" + thread + "\"}");
    };
    const auto worker = phases("worker"), pool = phases("pool");
    // A GET: the request phases, then the response phases (and logging)
    // once the upstream answered; the client has its answer after both.
    CHECK(request(gw.port(), browser_request("GET", "/products?page=2", "w-1")).status == 200);
    CHECK(phases("worker") == worker + 2);
    CHECK(phases("pool") == pool);
    // A form: its body goes to the pool, the response phases stay here.
    CHECK(request(gw.port(), browser_request("POST", "/forms/submit", "w-2",
                                             "content-type: application/x-www-form-urlencoded\r\n",
                                             "q=blue+running+shoes&size=42"))
              .status == 200);
    CHECK(phases("pool") == pool + 1);
    CHECK(phases("worker") == worker + 3);
    // Rules decide on the worker as they do on the pool.
    auto blocked =
        request(gw.port(), browser_request("GET", "/search?q=1%27%20OR%20%271%27%3D%271", "w-3"));
    CHECK(blocked.status == 403);
    CHECK(any_in_range(app.log.rules_for("w-3"), 942000, 943000));
    CHECK(phases("pool") == pool + 1);
  }

  TEST_CASE("mounted: phases with no body run on a loop run by run_on, on the pool under run()") {
    test_upstream up(echo);
    temp_log log;
    const std::string yaml =
        app_route_yaml(up.port()) + waf_policy("waf", app_target, crs_spec(log.path));
    for (const bool own_loop : {true, false}) {
      CAPTURE(own_loop);
      boost::asio::io_context loop{1};  // outlives the server
      gateway::server gw(load_on_loopback(yaml));
      auto phases = [&](const std::string& thread) {
        return series_value(gw, "gateway_waf_phases_total{thread=\"" + thread + "\"}");
      };
      auto work = boost::asio::make_work_guard(loop);
      gateway::start_on(gw, loop);
      std::thread host([&] {
        if (own_loop)
          gateway::run_on(gw, loop);
        else
          loop.run();
      });
      const auto worker = phases("worker"), pool = phases("pool");
      CHECK(request(gw.port(), browser_request("GET", "/products?page=3", "m-1")).status == 200);
      auto blocked =
          request(gw.port(), browser_request("GET", "/search?q=1%27%20OR%20%271%27%3D%271", "m-2"));
      CHECK(blocked.status == 403);
      CHECK(any_in_range(log.rules_for("m-2"), 942000, 943000));
      // Two tasks each: the request phases, then the response phases (the
      // blocked one's 403) and logging.
      CHECK(phases(own_loop ? "worker" : "pool") == (own_loop ? worker : pool) + 4);
      CHECK(phases(own_loop ? "pool" : "worker") == (own_loop ? pool : worker));
      gw.stop(1s);
      work.reset();
      loop.stop();
      host.join();
    }
  }

  TEST_CASE("the worker runs phases back to back while it serves only WAF requests") {
    crs_app app;
    running_gateway& gw = app.gw;
    auto back_to_back = [&] { return series_value(gw, "gateway_waf_phases_back_to_back_total"); };
    const auto before = back_to_back();
    // Rounds of 8 concurrent requests, until two phases were queued at once
    // (each takes a few hundred microseconds, so that comes within a few
    // rounds); without the requests holding the queue it never would.
    int rounds = 0, ok = 0;
    for (; rounds < 50 && back_to_back() == before; ++rounds) {
      std::vector<std::future<int>> clients;
      for (int i = 0; i < 8; ++i)
        clients.push_back(std::async(std::launch::async, [&, i] {
          const std::string id = "b2b-" + std::to_string(rounds) + "-" + std::to_string(i);
          return request(gw.port(), browser_request("GET", "/products?page=" + id, id)).status;
        }));
      for (auto& c : clients)
        ok += c.get() == 200;
    }
    MESSAGE("back-to-back phases after ", rounds, " rounds of 8 requests");
    CHECK(back_to_back() > before);
    CHECK(ok == rounds * 8);
  }

  TEST_CASE("WAF policy reloads build new engines and free the old ones (RSS stays flat)") {
    test_upstream up(echo);
    temp_log log;
    auto config = [&](int n) {
      // A directive that differs per reload forces a new engine each time.
      return load_on_loopback(
          app_route_yaml(up.port()) +
          waf_policy("waf", app_target,
                     "  ruleSet:\n    crs: {paranoiaLevel: 1}\n    directives: |\n"
                     "      SecRule ARGS:reload \"@streq " +
                         std::to_string(n) +
                         "\" \"id:10001,phase:1,deny,status:418,log,msg:'reload marker'\"\n"
                         "  log: {path: " +
                         log.path + ", format: JSON}\n"));
    };
    running_gateway gw(config(0));
#if defined(__SANITIZE_ADDRESS__)
    const int reloads = 20;  // ASan keeps freed memory aside: RSS says nothing there
#else
    const int reloads = 100;
#endif
    std::uint64_t rss_at_10 = 0;
    for (int n = 1; n <= reloads; ++n) {
      gw.server().reload(config(n));
      // The new rules are the ones in force.
      auto r =
          request(gw.port(), browser_request("GET", "/?reload=" + std::to_string(n), "reload"));
      REQUIRE(r.status == 418);
      if (n == 10) rss_at_10 = current_rss();
    }
    const std::uint64_t rss_end = current_rss();
    MESSAGE("RSS after 10 reloads: ", rss_at_10 / 1024, " KiB; after ", reloads, ": ",
            rss_end / 1024, " KiB");
#if !defined(__SANITIZE_ADDRESS__)
    CHECK(rss_end <= rss_at_10 + rss_at_10 / 10);
#endif
  }
}

TEST_SUITE("waf") {
  TEST_CASE("inline rules: deny with the rule's status, redirect, drop, text log and audit log") {
    test_upstream up(echo);
    temp_log log;
    temp_log audit;
    const std::string spec =
        "  ruleSet:\n    directives: |\n"
        "      SecRule REQUEST_HEADERS:X-Secret \"@streq 1\" "
        "\"id:10002,phase:1,deny,status:451,log,msg:'secret header'\"\n"
        "      SecRule ARGS:go \"@streq away\" "
        "\"id:10003,phase:1,redirect:https://example.com/gone,log,msg:'sent away'\"\n"
        "      SecRule ARGS:bye \"@streq now\" \"id:10004,phase:2,drop,log,msg:'dropped'\"\n"
        "      SecRule RESPONSE_STATUS \"@streq 200\" \"id:10005,phase:3,pass,log,msg:'saw the "
        "response'\"\n"
        "  log: {path: " +
        log.path + ", format: Text}\n  auditLog: {path: " + audit.path + "}\n";
    running_gateway gw(
        load_on_loopback(app_route_yaml(up.port()) + waf_policy("waf", app_target, spec)));
    auto denied = request(gw.port(), browser_request("GET", "/", "t-1", "x-secret: 1\r\n"));
    CHECK(denied.status == 451);
    auto moved = request(gw.port(), browser_request("GET", "/?go=away", "t-2"));
    CHECK(moved.status == 302);
    CHECK(moved.header("location") == "https://example.com/gone");
    test_client c(gw.port());
    REQUIRE(c.send(browser_request("GET", "/?bye=now", "t-3")));
    CHECK(c.closed_by_peer());
    auto fine = request(gw.port(), browser_request("GET", "/fine", "t-4"));
    CHECK(fine.status == 200);
    CHECK(up.requests() == 1);
    // Text lines carry libmodsecurity's own message.
    const std::string text = log.text();
    CHECK(text.find("ModSecurity: Access denied with code 451 (phase 1)") != std::string::npos);
    CHECK(text.find("[id \"10002\"]") != std::string::npos);
    CHECK(text.find("[msg \"secret header\"]") != std::string::npos);
    CHECK(text.find("[unique_id \"t-1\"]") != std::string::npos);
    CHECK(text.find("[id \"10003\"]") != std::string::npos);
    CHECK(text.find("[id \"10004\"]") != std::string::npos);
    CHECK(text.find("[route \"default/app\"]") != std::string::npos);
    // The response phase ran for the request that passed.
    CHECK(text.find("[id \"10005\"]") != std::string::npos);
    // The audit log is written in the logging phase, after the response.
    std::string records;
    for (int i = 0; i < 100 && records.find("t-1") == std::string::npos; ++i) {
      std::this_thread::sleep_for(50ms);
      records = audit.text();
    }
    CHECK(records.find("\"transaction\"") != std::string::npos);
    CHECK(records.find("t-1") != std::string::npos);
  }

  TEST_CASE("a broken WAF policy is a clear config error") {
    auto fails_with = [](const std::string& spec, const std::string& expected) {
      CAPTURE(spec);
      try {
        load_on_loopback(app_route_yaml(1) + waf_policy("waf", app_target, spec));
        FAIL("loaded");
      } catch (const gateway::error& e) {
        CHECK(std::string(e.what()).find(expected) != std::string::npos);
        MESSAGE(std::string(e.what()));
      }
    };
    fails_with("  ruleSet: {directives: \"SecRuleEngine Sometimes\"}\n", "waf: Rules error");
    fails_with("  ruleSet: {files: [/nonexistent/rules.conf]}\n", "/nonexistent/rules.conf");
    fails_with("  ruleSet: {crs: {paranoiaLevel: 7}}\n", "paranoiaLevel");
    fails_with("  mode: Maybe\n  ruleSet: {crs: true}\n", "mode");
    fails_with("  ruleSet: {crs: true}\n  exclusions: [{targets: ['ARGS:q']}]\n", "names no rule");
    fails_with("  ruleSet: {crs: true}\n  requestBody: {limits: 5}\n", "limits");
    fails_with("  ruleSet: {crs: true}\n  log: {path: /nonexistent/dir/waf.log}\n",
               "/nonexistent/dir/waf.log");
  }
}

TEST_SUITE("waf") {
  TEST_CASE("explain_waf agrees with the gateway, request by request") {
    test_upstream up(echo);
    temp_log log;
    const std::string yaml =
        app_route_yaml(up.port(),
                       "  - matches: [{path: {type: PathPrefix, value: /admin}}]\n"
                       "    name: admin\n    backendRefs: [{name: app, port: 80}]\n"
                       "  - matches: [{path: {type: PathPrefix, value: /static}}]\n"
                       "    name: static\n    backendRefs: [{name: app, port: 80}]\n") +
        waf_policy("waf", app_target, crs_spec(log.path)) +
        waf_policy("admin-sql",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: admin}\n",
                   crs_spec(log.path,
                            "  exclusions:\n  - {tags: [attack-sqli], targets: ['ARGS:sql']}\n")) +
        waf_policy("static",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: static}\n",
                   "  mode: \"Off\"\n  ruleSet: {crs: true}\n");
    const auto config = load_on_loopback(yaml);
    running_gateway gw(load_on_loopback(yaml));
    const std::string sql = "SELECT%20name%20FROM%20users%20WHERE%20id%3D1%20OR%201%3D1";
    const std::vector<std::string> targets = {
        "/products?page=2",    "/search?q=" + sql,        "/admin/run?sql=" + sql,
        "/admin/run?x=" + sql, "/static/app.js?q=" + sql, "/?q=%3Cscript%3Ealert(1)%3C/script%3E"};
    for (const std::string& t : targets) {
      CAPTURE(t);
      auto real = request(gw.port(), browser_request("GET", t, "e"));
      std::vector<gateway::http::header> fields = {
          {"host", "shop.example"},
          {"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"},
          {"accept", "text/html,application/json;q=0.9,*/*;q=0.8"},
          {"accept-language", "en-US,en;q=0.5"}};
      gateway::waf_request r;
      r.uri = t;
      r.headers = fields;
      const gateway::waf_explanation x = gateway::explain_waf(config, r);
      CHECK(x.route == "default/app");
      const int predicted = x.verdict.action == gateway::waf_action::deny ? x.verdict.status : 200;
      CHECK(predicted == real.status);
      if (t.rfind("/static", 0) == 0) CHECK(!x.inspected);
      if (t.rfind("/admin", 0) == 0) CHECK(x.rule == "admin");
    }
  }
}

TEST_SUITE("waf") {
  TEST_CASE("an overloaded WAF answers 503 or lets requests pass, as the policy says") {
    test_upstream up(echo);
    temp_log log;
    const std::string yaml =
        app_route_yaml(up.port(),
                       "  - matches: [{path: {type: PathPrefix, value: /open}}]\n"
                       "    name: open\n    backendRefs: [{name: app, port: 80}]\n"
                       "  - matches: [{path: {type: PathPrefix, value: /busy}}]\n"
                       "    name: busy\n    timeouts: {request: 120s}\n"
                       "    backendRefs: [{name: app, port: 80}]\n") +
        waf_policy("waf", app_target,
                   crs_spec(log.path, "  overload: {maxQueued: 1, action: Reject}\n")) +
        waf_policy("busy",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: busy}\n",
                   crs_spec(log.path)) +
        waf_policy("open",
                   "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, name: app, "
                   "sectionName: open}\n",
                   crs_spec(log.path, "  overload: {maxQueued: 1, action: Pass}\n"));
    running_gateway gw(load_on_loopback(yaml), 2);
    // Keep every evaluation thread busy with a large form (seconds of CRS work each).
    const unsigned threads = gateway::waf::evaluation_pool::shared().threads();
    std::string body;
    for (int i = 0; i < 300; ++i)
      body += (i ? "&f" : "f") + std::to_string(i) + "=" + std::string(10000, char('a' + i % 26));
    std::vector<std::future<int>> busy;
    for (unsigned i = 0; i < threads; ++i)
      busy.push_back(std::async(std::launch::async, [&] {
        return request(gw.port(),
                       browser_request("POST", "/busy/upload", "busy",
                                       "content-type: application/x-www-form-urlencoded\r\n", body),
                       false, 120s)
            .status;
      }));
    std::this_thread::sleep_for(300ms);
    // Requests with a body wait for the pool (one without runs on its
    // worker). One of the busy rule (no tight bound) waits; then one of a
    // rule that allows one waiting request is refused at once.
    const std::string form = "content-type: application/x-www-form-urlencoded\r\n";
    auto waiting = std::async(std::launch::async, [&] {
      return request(gw.port(), browser_request("POST", "/busy/waits", "w-1", form, "a=1"), false,
                     120s)
          .status;
    });
    bool queued = false;  // until that request waits for a thread
    for (int i = 0; i < 200 && !queued; ++i) {
      queued = gateway::waf::evaluation_pool::shared().queued() >= 1;
      if (!queued) std::this_thread::sleep_for(25ms);
    }
    REQUIRE(queued);
    // Refused, not queued behind the busy evaluations: the overload answer.
    auto refused = request(gw.port(), browser_request("POST", "/refused", "w-2", form, "a=2"));
    CHECK(refused.status == 503);
    CHECK(refused.header("retry-after") == "1");
    // Where the policy prefers availability, the request goes through uninspected.
    auto passed = request(gw.port(), browser_request("POST", "/open/x", "w-3", form, "a=3"));
    CHECK(passed.status == 200);
    CHECK(waiting.get() == 200);
    for (auto& b : busy)
      CHECK(b.get() == 200);
    CHECK(gw.server().stats_text().find("gateway_waf_requests_total{decision=\"overload\"}") !=
          std::string::npos);
  }
}
