// A C++ service with its own Boost.Beast server that puts the gateway's
// policies in front of its handler (gateway::middleware: JWT authentication
// and the OWASP CRS) and calls two other services through the gateway's
// upstream pool (gateway::client: round robin, retries). Asio is used
// header-only here, with its default settings, as most programs use it: the
// program links libgateway.so, which keeps its own Asio private, so the two
// never meet (see README, Components).
//
// The program is its own demo: it starts the two backend services (inventory
// on two endpoints; pricing on two, one of which always fails with 503), its
// own server, and then calls itself as a client would, checking each answer.
// Exit status 0 when every check held.
#include <gateway/client.hpp>
#include <gateway/error.hpp>
#include <gateway/middleware.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

using handler =
    std::function<http::response<http::string_body>(const http::request<http::string_body>&)>;

// A small threaded HTTP/1.1 server: one thread per connection, keep-alive.
class server {
 public:
  explicit server(handler h)
      : handler_(std::move(h)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { accept(); });
  }
  ~server() {
    stopping_ = true;
    beast::error_code ignored;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocked accept
    acceptor_.close(ignored);
    thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& s : sockets_)
      s->shutdown(tcp::socket::shutdown_both, ignored);
    for (auto& t : sessions_)
      t.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

 private:
  void accept() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(io_);
      beast::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec || stopping_) return;
      std::lock_guard lock(mutex_);
      sockets_.push_back(socket);
      sessions_.emplace_back([this, socket] { serve(*socket); });
    }
  }
  void serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      http::response<http::string_body> res = handler_(req);
      res.version(11);
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  handler handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> sessions_;
};

http::response<http::string_body> answer(int status, std::string body,
                                         std::string type = "text/plain") {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, type);
  res.body() = std::move(body);
  return res;
}

// A backend endpoint that answers with its own name (or always 503),
// counting the requests it gets.
handler backend(std::string name, std::atomic<int>& hits, bool failing = false) {
  return [name = std::move(name), &hits, failing](const http::request<http::string_body>&) {
    ++hits;
    return failing ? answer(503, "unavailable") : answer(200, name);
  };
}

std::string base64url(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=')
    out.pop_back();
  for (char& c : out)
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// An HS256 JWT for `sub`, signed with `secret`.
std::string token(const std::string& secret, const std::string& sub) {
  const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() +
                   3600;
  const std::string signing_input =
      base64url(R"({"alg":"HS256","typ":"JWT","kid":"svc"})") + "." +
      base64url(R"({"iss":"https://auth.example","aud":"shop","sub":")" + sub + R"(","exp":)" +
                std::to_string(exp) + "}");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &mac_len);
  return signing_input + "." + base64url(std::string(reinterpret_cast<char*>(mac), mac_len));
}

std::string service_yaml(const std::string& name, std::vector<unsigned short> ports) {
  std::string y = "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name +
                  ", namespace: shop}\nspec: {ports: [{name: http, port: 80}]}\n";
  for (std::size_t i = 0; i < ports.size(); ++i)
    y += "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " + name +
         "-" + std::to_string(i) +
         ", namespace: shop, labels: {kubernetes.io/service-name: " + name +
         "}}\naddressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]\nports: [{name: http, "
         "port: " +
         std::to_string(ports[i]) + "}]\n";
  return y;
}

// One request to the service as a client sends it; the status and body.
std::pair<int, std::string> call(unsigned short port, const std::string& target,
                                 const std::string& bearer) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "service.test");
  req.set(http::field::user_agent, "service-example/1");
  req.set(http::field::accept, "application/json");
  if (!bearer.empty()) req.set(http::field::authorization, "Bearer " + bearer);
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return {res.result_int(), res.body()};
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string secret = "example-service-signing-secret-32b";
  try {
    // The two services this one calls.
    std::atomic<int> hits[4] = {0, 0, 0, 0};
    server inventory_a(backend("inventory-a", hits[0])),
        inventory_b(backend("inventory-b", hits[1]));
    server pricing_good(backend("pricing-1", hits[2]));
    server pricing_bad(backend("pricing-2", hits[3], true));

    gateway::client services(gateway::load_client_yaml(
        service_yaml("inventory", {inventory_a.port(), inventory_b.port()}) +
            service_yaml("pricing", {pricing_good.port(), pricing_bad.port()}) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: pricing, namespace: shop}
spec:
  targetRefs: [{group: "", kind: Service, name: pricing}]
  retry:
    numRetries: 2
    retryOn: {triggers: [connect-failure, retriable-status-codes], httpStatusCodes: [503]}
)",
        "services.yaml"));

    // The policies in front of this service's handler.
    gateway::middleware policies(gateway::load_yaml(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: service}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: quotes}
spec:
  parentRefs: [{name: service}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /quote}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: quotes}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: quotes}]
  jwt:
    providers:
    - name: auth
      issuer: https://auth.example
      audiences: [shop]
      localJWKS:
        type: Inline
        inline: '{"keys":[{"kty":"oct","kid":"svc","alg":"HS256","k":")" +
                                                        base64url(secret) + R"("}]}'
      claimToHeaders: [{header: x-user, claim: sub}]
---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: crs}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: quotes}]
  ruleSet: {crs: {paranoiaLevel: 1}}
)",
                                                    "policies.yaml"));

    // The service: the middleware first; the handler calls both services.
    server service([&](const http::request<http::string_body>& req) {
      gateway::middleware_request in;
      in.method = std::string(req.method_string());
      in.url = std::string(req.target());
      for (const auto& f : req)
        in.headers.emplace_back(f.name_string(), f.value());
      in.body = req.body();
      gateway::middleware_exchange ex = policies.handle(std::move(in));
      gateway::middleware_response out;
      if (ex.replied()) {
        out = ex.response();
      } else {
        const gateway::forwarded_request& r = ex.request();
        gateway::client_request stock, price;
        stock.url = "http://inventory.shop/stock";
        price.url = "http://pricing.shop/price";
        const gateway::client_response s = services.send(stock);
        const gateway::client_response p = services.send(price);
        out = ex.respond({200,
                          {{"content-type", "application/json"}},
                          R"({"user":")" + std::string(r.header("x-user")) + R"(","stock":")" +
                              s.body + R"(","price":")" + p.body + R"("})",
                          {}});
      }
      http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
      for (const auto& [name, value] : out.headers)
        if (name != "content-length" && name != "connection") res.set(name, value);
      res.body() = out.body;
      return res;
    });

    int failures = 0;
    auto check = [&](bool ok, const std::string& what) {
      std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
      failures += ok ? 0 : 1;
    };
    const std::string ann = token(secret, "ann");
    auto [no_token, _1] = call(service.port(), "/quote?item=7", "");
    check(no_token == 401, "no token: 401 from the JWT policy (" + std::to_string(no_token) + ")");
    auto [forged, _2] =
        call(service.port(), "/quote?item=7", token("another-secret-of-32-bytes-length", "ann"));
    check(forged == 401, "a token signed with another key: 401 (" + std::to_string(forged) + ")");
    auto [sqli, _3] = call(service.port(), "/quote?item=1%27%20OR%20%271%27%3D%271", ann);
    check(sqli == 403, "an SQL injection: 403 from the CRS (" + std::to_string(sqli) + ")");
    std::vector<std::string> stock;
    for (int i = 0; i < 4; ++i) {
      auto [status, body] = call(service.port(), "/quote?item=7", ann);
      check(status == 200 && body.find(R"("user":"ann")") != std::string::npos &&
                body.find(R"("price":"pricing-1")") != std::string::npos,
            "a good call: " + std::to_string(status) + " " + body);
      const auto at = body.find("inventory-");
      stock.push_back(at == std::string::npos ? "?" : body.substr(at, 11));
    }
    check(stock[0] != stock[1] && stock[0] == stock[2] && stock[1] == stock[3],
          "inventory's endpoints in turn: " + stock[0] + " " + stock[1] + " " + stock[2] + " " +
              stock[3]);
    check(hits[3] >= 1 && hits[2] == 4, "pricing's failing endpoint was tried " +
                                            std::to_string(hits[3].load()) +
                                            " times and retried on the other, which served all 4");
    services.close();
    policies.close();
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "service example: %s\n", e.what());
    return 1;
  }
}
