// Embedding the gateway in a C++ program: a config built in code, a server on
// an ephemeral port, and the router asked directly where a request would go.
#include <gateway/gateway.hpp>

#include <cstdio>

int main() {
  using namespace gateway;

  // Where would requests go? The router works without a server or a socket.
  route api;
  api.name = "api";
  api.hostnames = {"*.example.com"};
  route_match under_api;
  under_api.path = {path_match_type::prefix, "/api"};
  route_match v2_header = under_api;
  v2_header.headers.push_back({value_match_type::exact, "x-version", "v2"});
  route_rule v2;
  v2.matches.push_back(v2_header);
  v2.backends.push_back({"api-v2", 1});
  route_rule v1;
  v1.matches.push_back(under_api);
  v1.backends.push_back({"api-v1", 1});
  api.rules = {v1, v2};  // order does not matter: the header match is more specific
  router table({api});

  http::header version{"X-Version", "v2"};
  request_view rq{"GET", "shop.example.com", "/api/orders", "", {&version, 1}};
  route_selection hit = table.match(rq);
  std::printf("GET shop.example.com/api/orders (x-version: v2) -> %s\n",
              hit ? hit.rule->backends.front().cluster.c_str() : "no route");

  // A running gateway: one listener on an ephemeral port, one cluster.
  gateway_config config;
  listener_config listener;
  listener.name = "public";
  listener.bind_address = "127.0.0.1";
  listener.bind_port = 0;
  listener.routes = {api};
  config.listeners.push_back(listener);
  for (const char* name : {"api-v1", "api-v2"}) {
    cluster_config c;
    c.name = name;
    c.endpoints.push_back({"127.0.0.1", 9000, 1});
    config.clusters.push_back(c);
  }
  server_options options;
  options.threads = 1;
  server gw(std::move(config), options);
  gw.start();
  std::printf("gateway listening on 127.0.0.1:%u\n", static_cast<unsigned>(gw.port("public")));
  gw.stop(std::chrono::milliseconds(100));
  return hit && hit.rule->backends.front().cluster == "api-v2" ? 0 : 1;
}
