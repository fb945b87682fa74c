// A host's own filter, registered beside the built-ins and attached from YAML
// like any of them: requests must name a tenant the filter knows, and the
// tenant is forwarded upstream and echoed on the response. Its factory
// declares counters through the factory context, which the gateway shows as
// gateway_filter_events_total{filter, type, event}.
#include <gateway/gateway.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <set>
#include <string>

namespace {

// Parsed once per configuration; shared by every worker (read-only).
struct tenant_config {
  std::set<std::string, std::less<>> tenants;
  gateway::filter_counter known, unknown;  // declared by the builder
};

// One per request, made in the request's arena.
class tenant_filter final : public gateway::filter {
 public:
  explicit tenant_filter(const tenant_config& c) : c_(c) {}
  gateway::filter_status on_request(gateway::filter_context& ctx) override {
    auto tenant = ctx.request_headers().get("x-tenant");
    if (!tenant || !c_.tenants.count(*tenant)) {
      ctx.count(c_.unknown);  // the worker's own counter: no lock
      ctx.send_local_reply(403, "unknown tenant\n");
      return gateway::filter_status::stop;
    }
    ctx.count(c_.known);
    tenant_.assign(*tenant);  // the head's bytes are gone by the response
    return gateway::filter_status::next;
  }
  gateway::filter_status on_response(gateway::filter_context& ctx) override {
    if (!tenant_.empty()) ctx.response_headers().set("x-served-tenant", tenant_);
    return gateway::filter_status::next;
  }

 private:
  const tenant_config& c_;
  std::string tenant_;
};

class tenant_factory final : public gateway::filter_factory {
 public:
  explicit tenant_factory(tenant_config c) : c_(std::move(c)) {}
  gateway::filter* create(gateway::filter_arena& arena) const override {
    return arena.make<tenant_filter>(c_);
  }
  std::uint8_t hooks() const noexcept override {
    return gateway::hook_request | gateway::hook_response;
  }

 private:
  tenant_config c_;
};

// The configuration arrives as JSON text; a real host would use its JSON
// library. This one takes {"tenants": "a,b,c"} to stay dependency-free.
std::shared_ptr<const gateway::filter_factory> make_tenant(std::string_view json,
                                                           gateway::filter_factory_context& ctx) {
  const std::string_view key = "\"tenants\"";
  auto at = json.find(key);
  auto open = at == std::string_view::npos ? at : json.find('"', at + key.size());
  auto close = open == std::string_view::npos ? open : json.find('"', open + 1);
  if (close == std::string_view::npos)
    throw gateway::error(gateway::errc::invalid_config, "tenants: required field is missing");
  tenant_config c;
  std::string_view list = json.substr(open + 1, close - open - 1);
  while (!list.empty()) {
    auto comma = list.find(',');
    c.tenants.emplace(list.substr(0, comma));
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  c.known = ctx.counter("known");
  c.unknown = ctx.counter("unknown");
  return std::make_shared<tenant_factory>(std::move(c));
}

const char* config = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: web}]
  rules:
  - filters:
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: tenants}}
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: hello}}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: tenants}
spec: {type: tenant, config: {tenants: "blue,green"}}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: hello}
spec: {type: direct-response, config: {body: "hello from the gateway\n"}}
)";

// One request over a fresh connection; returns the status line and fields.
std::string ask(std::uint16_t port, const std::string& extra) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string rq = "GET / HTTP/1.1\r\nhost: x\r\n" + extra + "connection: close\r\n\r\n";
    if (::write(fd, rq.data(), rq.size()) == static_cast<ssize_t>(rq.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        answer.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

}  // namespace

int main() {
  gateway::filter_registry filters = gateway::filter_registry::builtin();  // a copy
  filters.add("tenant", make_tenant);
  gateway::gateway_config cfg = gateway::load_yaml(config, "example.yaml", filters);
  cfg.listeners.front().bind_address = "127.0.0.1";
  cfg.listeners.front().bind_port = 0;
  gateway::server gw(std::move(cfg), gateway::server_options{});
  gw.start();
  const std::uint16_t port = gw.port("default/web/http");
  std::printf("gateway on 127.0.0.1:%u with filters:", static_cast<unsigned>(port));
  for (const auto& name : filters.names())
    std::printf(" %s", name.c_str());
  std::printf("\n");

  const std::string refused = ask(port, "");
  const std::string served = ask(port, "x-tenant: blue\r\n");
  std::printf("without a tenant: %s\n", refused.substr(0, refused.find('\r')).c_str());
  std::printf("tenant blue:      %s\n", served.substr(0, served.find('\r')).c_str());
  const std::string metrics = gw.stats_text();
  const std::string unknown =
      "gateway_filter_events_total{filter=\"Filter default/tenants\",type=\"tenant\","
      "event=\"unknown\"} 1\n";
  std::printf("metrics: %s",
              metrics.find(unknown) != std::string::npos ? unknown.c_str() : "missing\n");
  gw.stop(std::chrono::milliseconds(100));
  const bool ok = refused.starts_with("HTTP/1.1 403") && served.starts_with("HTTP/1.1 200") &&
                  served.find("x-served-tenant: blue") != std::string::npos &&
                  metrics.find(unknown) != std::string::npos;
  return ok ? 0 : 1;
}
