// The admin listener, stats and access log through the C++ API.
#include <doctest/doctest.h>

#include <gateway/error.hpp>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

gateway::server_options options_with_admin() {
  gateway::server_options o;
  o.threads = 2;
  o.level = gateway::log_level::error;
  o.admin = gateway::admin_options{"127.0.0.1", 0};
  return o;
}

client_response admin(std::uint16_t port, const std::string& method, const std::string& path) {
  return request(port,
                 method + " " + path + " HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_SUITE("admin") {
  TEST_CASE("stats count each request by route, backend and status class") {
    test_upstream up;
    gateway::server server(proxy_config({up.port()}), options_with_admin());
    CHECK_THROWS_AS(server.stats_text(), gateway::error);  // not running yet
    server.start();
    for (int i = 0; i < 3; ++i)
      REQUIRE(
          request(server.port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").status ==
          200);
    REQUIRE(request(server.port(), "BAD\r\n\r\n").status == 400);
    std::string text = server.stats_text();
    CHECK(text.find("gateway_requests_total{listener=\"test\",route=\"default/all\",backend=\"up\","
                    "code_class=\"2xx\"} 3\n") != std::string::npos);
    CHECK(text.find("gateway_requests_total{listener=\"test\",route=\"\",backend=\"\","
                    "code_class=\"4xx\"} 1\n") != std::string::npos);
    CHECK(text.find("gateway_request_duration_seconds_count{listener=\"test\",route=\"default/"
                    "all\",backend=\"up\"} 3\n") != std::string::npos);
    // The admin listener serves the same text.
    auto scraped = admin(server.admin_port(), "GET", "/stats/prometheus");
    CHECK(scraped.status == 200);
    CHECK(scraped.header("content-type").find("version=0.0.4") != std::string::npos);
    CHECK(scraped.body.find("code_class=\"2xx\"} 3") != std::string::npos);
  }

  TEST_CASE("/reload without a config source is 501, with one it reloads or says why not") {
    test_upstream up;
    SUBCASE("no source") {
      gateway::server server(proxy_config({up.port()}), options_with_admin());
      server.start();
      CHECK(admin(server.admin_port(), "POST", "/reload").status == 501);
      CHECK(admin(server.admin_port(), "GET", "/reload").status == 405);
    }
    SUBCASE("a source that fails, then one that works") {
      bool broken = true;
      auto options = options_with_admin();
      options.config_source = [&] {
        auto cfg = proxy_config({up.port()});
        if (broken)
          cfg.listeners.front().routes.front().rules.front().backends.front().cluster = "missing";
        return cfg;
      };
      gateway::server server(proxy_config({up.port()}), options);
      server.start();
      auto r = admin(server.admin_port(), "POST", "/reload");
      CHECK(r.status == 400);
      CHECK(r.body.find("unknown cluster 'missing'") != std::string::npos);
      CHECK(server.config_version() == 1);
      broken = false;
      r = admin(server.admin_port(), "POST", "/reload");
      CHECK(r.status == 200);
      CHECK(r.body == "{\"reloaded\":true,\"version\":2}\n");
      CHECK(server.stats_text().find("gateway_config_reloads_total{result=\"failed\"} 1") !=
            std::string::npos);
    }
  }

  TEST_CASE("/status and the last-reload gauges follow each reload, a source that throws too") {
    test_upstream up;
    bool throws = false;
    auto options = options_with_admin();
    options.config_source = [&] {
      if (throws) throw gateway::error(gateway::errc::invalid_config, "gw.yaml:3: no such kind");
      return proxy_config({up.port()});
    };
    gateway::server server(proxy_config({up.port()}), options);
    server.start();
    auto status = admin(server.admin_port(), "GET", "/status");
    CHECK(status.status == 200);
    CHECK(status.header("content-type") == "application/json");
    CHECK(status.body.find("\"version\":1,\"workers\":2,") != std::string::npos);
    CHECK(status.body.find("\"last_reload\":null}") != std::string::npos);
    std::string text = server.stats_text();
    CHECK(text.find("gateway_config_last_reload_successful 1\n") != std::string::npos);
    CHECK(text.find("gateway_config_last_reload_timestamp_seconds 0\n") != std::string::npos);
    CHECK(text.find("\ngateway_start_time_seconds 0\n") == std::string::npos);

    // A source that throws is a failed reload, as a rejected config is.
    throws = true;
    auto r = admin(server.admin_port(), "POST", "/reload");
    CHECK(r.status == 400);
    CHECK(r.body.find("no such kind") != std::string::npos);
    status = admin(server.admin_port(), "GET", "/status");
    CHECK(status.body.find("\"last_reload\":{\"ok\":false,\"at\":") != std::string::npos);
    CHECK(status.body.find("\"error\":\"gw.yaml:3: no such kind\"") != std::string::npos);
    CHECK_THROWS_AS(server.reload_from([]() -> gateway::gateway_config {
      throw std::runtime_error("unreadable");
    }),
                    std::runtime_error);
    text = server.stats_text();
    CHECK(text.find("gateway_config_last_reload_successful 0\n") != std::string::npos);
    CHECK(text.find("gateway_config_reloads_total{result=\"failed\"} 2\n") != std::string::npos);
    CHECK(text.find("gateway_config_last_reload_timestamp_seconds 0\n") == std::string::npos);

    throws = false;
    CHECK(admin(server.admin_port(), "POST", "/reload").status == 200);
    status = admin(server.admin_port(), "GET", "/status");
    CHECK(status.body.find("\"version\":2,") != std::string::npos);
    CHECK(status.body.find("\"last_reload\":{\"ok\":true,\"at\":") != std::string::npos);
    CHECK(status.body.find("\"error\"") == std::string::npos);
    CHECK(server.stats_text().find("gateway_config_last_reload_successful 1\n") !=
          std::string::npos);
  }

  TEST_CASE("the dashboard page is served whole at / and /dashboard") {
    test_upstream up;
    gateway::server server(proxy_config({up.port()}), options_with_admin());
    server.start();
    for (const char* path : {"/", "/dashboard"}) {
      CAPTURE(path);
      auto page = admin(server.admin_port(), "GET", path);
      CHECK(page.status == 200);
      CHECK(page.header("content-type") == "text/html; charset=utf-8");
      CHECK(page.body.rfind("<!doctype html>", 0) == 0);
      CHECK(page.body.find("fetch(\"/stats/prometheus\"") != std::string::npos);
      CHECK(page.body.size() > 4096);
      CHECK(page.body.substr(page.body.size() - 8) == "</html>\n");
    }
    CHECK(admin(server.admin_port(), "POST", "/dashboard").status == 405);
  }

  TEST_CASE("an access log format string is filled per request") {
    test_upstream up;
    char path[] = "/tmp/gateway-access-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    {
      auto options = options_with_admin();
      options.access_log = {path, "%method% %path% %status% %route% %upstream% 100%%"};
      gateway::server server(proxy_config({up.port()}), options);
      server.start();
      REQUIRE(request(server.port(), "GET /x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                  .status == 200);
      server.stop();  // the last batch is written when the workers stop
    }
    std::string text = read_file(path);
    ::unlink(path);
    CHECK(text == "GET /x?y=1 200 default/all 127.0.0.1:" + std::to_string(up.port()) + " 100%\n");
    gateway::server_options bad;
    bad.access_log = {"/tmp/x.log", "%nope%"};
    CHECK_THROWS_WITH_AS(gateway::server(proxy_config({up.port()}), bad),
                         doctest::Contains("unknown field %nope%"), gateway::error);
  }
}
