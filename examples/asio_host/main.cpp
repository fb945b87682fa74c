// A host that already serves HTTP with Boost.Beast on its own io_context
// mounts the gateway on that same io_context: the gateway's listener, its
// routing and its proxying to the host's own app all run on the host's one
// thread. The gateway fronts the app: /app/... goes to it (with the
// gateway's X-Forwarded-For and header edits), /health is answered by the
// gateway itself.
#include <gateway/asio.hpp>
#include <gateway/gateway.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// The host's own app: one Beast session per connection, on the host's loop.
asio::awaitable<void> app_session(tcp::socket socket) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> rq;
    auto [ec, n] =
        co_await http::async_read(socket, buffer, rq, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    http::response<http::string_body> rs{http::status::ok, rq.version()};
    rs.set(http::field::content_type, "text/plain");
    rs.body() = "the host app saw " + std::string(rq.target()) + " from " +
                std::string(rq["x-forwarded-for"]) + " tagged " + std::string(rq["x-via-gateway"]) +
                "\n";
    rs.keep_alive(rq.keep_alive());
    rs.prepare_payload();
    auto [wec, w] = co_await http::async_write(socket, rs, asio::as_tuple(asio::use_awaitable));
    if (wec || !rs.keep_alive()) co_return;
  }
}

asio::awaitable<void> app_accept(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;  // closed at shutdown
    asio::co_spawn(acceptor.get_executor(), app_session(std::move(socket)), asio::detached);
  }
}

std::string config(unsigned app_port) {
  return R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: front}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: front}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /app}}]
    backendRefs: [{group: gateway.envoyproxy.io, kind: Backend, name: host-app}]
    filters:
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-via-gateway, value: "yes"}]}}
  - matches: [{path: {type: Exact, value: /health}}]
    filters:
    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: ok}}
---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: ok}
spec: {type: direct-response, config: {body: "gateway ok\n"}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: Backend
metadata: {name: host-app}
spec: {endpoints: [{ip: {address: 127.0.0.1, port: )" +
         std::to_string(app_port) + "}}]}\n";
}

// One request over a fresh connection (a client outside the loop); the answer.
std::string ask(unsigned port, const char* path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string rq =
        std::string("GET ") + path + " HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    if (::write(fd, rq.data(), rq.size()) == static_cast<ssize_t>(rq.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        answer.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

int thread_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d))
      n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

}  // namespace

int main() {
  asio::io_context ioc(1);

  // The host's Beast server, on an ephemeral port.
  tcp::acceptor app(ioc, {asio::ip::make_address("127.0.0.1"), 0});
  const unsigned app_port = app.local_endpoint().port();
  asio::co_spawn(ioc, app_accept(app), asio::detached);

  // The gateway in front of it, on the same io_context.
  gateway::gateway_config cfg = gateway::load_yaml(config(app_port), "front.yaml");
  cfg.listeners.front().bind_address = "127.0.0.1";
  cfg.listeners.front().bind_port = 0;
  gateway::server gw(std::move(cfg));
  gateway::start_on(gw, ioc);
  const unsigned gw_port = gw.port();
  const int threads = thread_count();  // the gateway made no thread of its own
  std::printf("host app on %u, gateway on %u, threads: %d\n", app_port, gw_port, threads);

  std::string via_gateway, health, direct;
  std::thread client([&] {
    via_gateway = ask(gw_port, "/app/orders?id=7");
    health = ask(gw_port, "/health");
    direct = ask(app_port, "/app/direct");
    // Shut down on the loop: the gateway drains, then the host closes its app.
    gateway::async_stop(gw, std::chrono::seconds(1), [&] { app.close(); });
  });
  ioc.run();  // returns once neither the app nor the gateway has work left
  client.join();

  auto first_line = [](const std::string& s) { return s.substr(0, s.find('\r')); };
  auto body = [](const std::string& s) { return s.substr(s.find("\r\n\r\n") + 4); };
  std::printf("GET /app/orders?id=7 via the gateway: %s: %s", first_line(via_gateway).c_str(),
              body(via_gateway).c_str());
  std::printf("GET /health via the gateway: %s: %s", first_line(health).c_str(),
              body(health).c_str());
  std::printf("GET /app/direct on the app: %s: %s", first_line(direct).c_str(),
              body(direct).c_str());
  const bool ok =
      threads == 1 && via_gateway.starts_with("HTTP/1.1 200") &&
      body(via_gateway) == "the host app saw /app/orders?id=7 from 127.0.0.1 tagged yes\n" &&
      health.starts_with("HTTP/1.1 200") && body(health) == "gateway ok\n" &&
      body(direct) == "the host app saw /app/direct from  tagged \n";
  return ok ? 0 : 1;
}
