// TCPRoute and TLSRoute: whole connections carried to backends. Real
// byte servers on loopback, real TLS on both ends (OpenSSL): passthrough is
// proven by the client verifying each backend's own certificate, which the
// gateway never holds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "shell_run.hpp"
#include "test_http.hpp"
#include "test_tls.hpp"

using namespace gwtest;

namespace {

bool wait_fd(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, ms) > 0;
}

int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 256) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("cannot listen on loopback");
  port = ntohs(a.sin_port);
  return fd;
}

// A TCP server that first sends `greeting` (when set), then echoes what it
// reads; at the client's FIN it sends "<bye>" and closes, so a client that
// gets "<bye>" saw its half-close reach the server with nothing lost.
class byte_server {
 public:
  explicit byte_server(std::string greeting = "") : greeting_(std::move(greeting)) {
    fd_ = listen_loopback(port_);
    acceptor_ = std::thread([this] {
      while (!stopping_) {
        if (!wait_fd(fd_, POLLIN, 50)) continue;
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ++connections_;
        std::lock_guard lock(mutex_);
        threads_.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~byte_server() {
    stopping_ = true;
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : threads_)
      t.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  std::size_t connections() const { return connections_.load(); }

 private:
  void serve(int c) {
    if (!greeting_.empty()) (void)!::send(c, greeting_.data(), greeting_.size(), MSG_NOSIGNAL);
    char buf[16384];
    // Bounded: a client that never closes is cut when the server stops.
    while (!stopping_) {
      if (!wait_fd(c, POLLIN, 50)) continue;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) {
        if (n == 0) (void)!::send(c, "<bye>", 5, MSG_NOSIGNAL);
        break;
      }
      for (ssize_t at = 0; at < n;) {
        const ssize_t w = ::send(c, buf + at, static_cast<std::size_t>(n - at), MSG_NOSIGNAL);
        if (w <= 0) break;
        at += w;
      }
    }
    ::close(c);
  }

  std::string greeting_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A plain client socket to 127.0.0.1:`port`, every wait bounded.
class plain_client {
 public:
  explicit plain_client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~plain_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      if (!wait_fd(fd_, POLLOUT, 10000)) return false;
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  void finish_sending() { ::shutdown(fd_, SHUT_WR); }
  // Reads until `n` bytes came, the peer closed, or 10 s passed.
  std::string read(std::size_t n) {
    std::string out;
    char buf[16384];
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.size() < n && std::chrono::steady_clock::now() < until) {
      if (!wait_fd(fd_, POLLIN, 100)) continue;
      const ssize_t got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got <= 0) break;
      out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
  }
  // Everything until the peer closes (10 s at most).
  std::string read_to_close() { return read(std::size_t{1} << 30); }
  bool closed_by_peer() {
    char c;
    if (!wait_fd(fd_, POLLIN, 10000)) return false;
    return ::recv(fd_, &c, 1, 0) <= 0;
  }

 private:
  int fd_ = -1;
};

const std::string gateway_head =
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: edge}\n"
    "spec:\n  gatewayClassName: any\n  listeners:\n";

std::string tcp_route(const std::string& name, const std::string& section,
                      const std::string& backends) {
  return "---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\nmetadata: {name: " +
         name + "}\nspec:\n  parentRefs: [{name: edge, sectionName: " + section +
         "}]\n  rules:\n  - backendRefs: [" + backends + "]\n";
}

std::string tls_route(const std::string& name, const std::string& section,
                      const std::string& hostnames, const std::string& backends) {
  return "---\napiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TLSRoute\nmetadata: {name: " +
         name + "}\nspec:\n  parentRefs: [{name: edge, sectionName: " + section +
         "}]\n  hostnames: [" + hostnames + "]\n  rules:\n  - backendRefs: [" + backends + "]\n";
}

// A Service `name` (port 80) whose endpoints are `addresses` on `port`.
std::string service_at(const std::string& name, std::uint16_t port,
                       const std::string& addresses = "127.0.0.1") {
  return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name +
         "}\nspec: {ports: [{name: tcp, port: 80}]}\n---\napiVersion: discovery.k8s.io/v1\n"
         "kind: EndpointSlice\nmetadata: {name: " +
         name + ", labels: {kubernetes.io/service-name: " + name +
         "}}\naddressType: IPv4\nendpoints: [{addresses: [" + addresses +
         "]}]\nports: [{name: tcp, port: " + std::to_string(port) + "}]\n";
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(pattern_byte(i));
  return s;
}

}  // namespace

TEST_SUITE("connection_route") {
  TEST_CASE("a TCPRoute carries bytes both ways and passes the client's half-close on") {
    byte_server echo;
    temp_dir dir;
    gateway::server_options o;
    o.threads = 1;
    o.level = gateway::log_level::error;
    o.access_log = {dir.path + "/access.log",
                    "%protocol% %method% %path% %route% %bytes_in% %bytes_out% %status%"};
    gateway::server gw(
        load_on_loopback(gateway_head + "  - {name: raw, port: 9000, protocol: TCP}\n" +
                         service_at("echo", echo.port()) +
                         tcp_route("echo", "raw", "{name: echo, port: 80}")),
        o);
    gw.start();
    const std::string big = pattern(1 << 20);
    {
      plain_client c(gw.port());
      REQUIRE(c.send("hello"));
      CHECK(c.read(5) == "hello");
      // A MiB each way: written by a second thread while this one reads.
      std::thread writer([&] { CHECK(c.send(big)); });
      const std::string back = c.read(big.size());
      writer.join();
      CHECK(back.size() == big.size());
      CHECK(back == big);
      // The FIN goes through: the server answers it and closes.
      c.finish_sending();
      CHECK(c.read_to_close() == "<bye>");
    }
    const std::string series =
        "gateway_tcp_connections_total{listener=\"default/edge/raw\",route=\"default/echo\","
        "backend=\"default/echo:80\"}";
    CHECK(eventually([&] { return metric(gw, series) == 1; }));
    // One line for the connection when it ended, with what went through it.
    const std::string line = "TCP - - default/echo " + std::to_string(5 + big.size()) + " " +
                             std::to_string(5 + big.size() + 5) + " ";
    const std::string log = file_once_it_has(dir.path + "/access.log", line);
    CAPTURE(log);
    CHECK(log.find(line) != std::string::npos);
  }

  TEST_CASE("weighted TCPRoute backends share connections and a dead endpoint is passed over") {
    byte_server a("a"), b("b");
    // Service "b" also lists 127.0.0.2 on b's port, where nothing listens:
    // a connect there is refused and the connection goes to b's live one.
    running_gateway gw(load_on_loopback(
        gateway_head + "  - {name: raw, port: 9000, protocol: TCP}\n" + service_at("a", a.port()) +
        service_at("b", b.port(), "127.0.0.1, 127.0.0.2") +
        tcp_route("split", "raw",
                  "{name: a, port: 80, weight: 1}, {name: b, port: 80, weight: 1}")));
    int got_a = 0, got_b = 0, other = 0;
    for (int i = 0; i < 40; ++i) {
      plain_client c(gw.port());
      const std::string first = c.read(1);
      if (first == "a")
        ++got_a;
      else if (first == "b")
        ++got_b;
      else
        ++other;
    }
    CHECK(other == 0);
    CHECK(got_a > 0);
    CHECK(got_b > 0);
    CHECK(a.connections() + b.connections() == 40);
  }

  TEST_CASE(
      "TLS passthrough: the SNI picks the backend and each backend's own certificate "
      "reaches the client") {
    test_pki pki;
    pki.issue("alpha", "alpha.test", "subjectAltName=DNS:alpha.test");
    pki.issue("beta", "beta.test", "subjectAltName=DNS:*.beta.test");
    test_tls_upstream alpha(pki, false, "alpha"), beta(pki, false, "beta");
    running_gateway gw(load_on_loopback(
        gateway_head + "  - {name: pass, port: 8443, protocol: TLS, tls: {mode: Passthrough}}\n" +
        service_at("alpha", alpha.port()) + service_at("beta", beta.port()) +
        tls_route("alpha", "pass", "alpha.test", "{name: alpha, port: 80}") +
        tls_route("beta", "pass", "\"*.beta.test\"", "{name: beta, port: 80}")));
    {
      tls_client_options o;
      o.sni = "alpha.test";
      o.verify_ca_file = pki.path("ca.crt");
      tls_client c(gw.port(), o);
      REQUIRE_MESSAGE(c.connected(), c.error());
      CHECK(c.server_cn() == "alpha.test");
      CHECK(c.exchange(get_request("alpha.test")).find("tls ok") != std::string::npos);
    }
    {
      tls_client_options o;
      o.sni = "api.beta.test";
      o.verify_ca_file = pki.path("ca.crt");
      tls_client c(gw.port(), o);
      REQUIRE_MESSAGE(c.connected(), c.error());
      CHECK(c.server_cn() == "beta.test");
      CHECK(c.exchange(get_request("api.beta.test")).find("tls ok") != std::string::npos);
    }
    CHECK(alpha.last_sni() == "alpha.test");
    CHECK(beta.last_sni() == "api.beta.test");
    // A name no route has, no name at all, or bytes that are not TLS: closed.
    for (const char* sni : {"gamma.test", ""}) {
      tls_client_options o;
      o.sni = sni;
      tls_client c(gw.port(), o);
      CHECK_FALSE(c.connected());
      // Told so by an alert, not a bare close.
      CHECK_MESSAGE(c.error().find("unrecognized name") != std::string::npos, c.error());
    }
    plain_client junk(gw.port());
    REQUIRE(junk.send("GET / HTTP/1.1\r\nhost: alpha.test\r\n\r\n"));
    CHECK(junk.closed_by_peer());
    CHECK(alpha.handshakes() == 1);
    CHECK(beta.handshakes() == 1);
  }

  TEST_CASE(
      "TLS terminated at the gateway: plain bytes to a TCPRoute backend, a TLSRoute's "
      "hostname taking its own") {
    test_pki pki;
    byte_server echo, named("named:");
    running_gateway gw(load_on_loopback(
        gateway_head +
        "  - name: term\n    port: 8443\n    protocol: TLS\n    tls: {mode: Terminate, "
        "certificateRefs: [{name: cert}]}\n" +
        tls_secret_yaml(pki, "cert", "server") + service_at("echo", echo.port()) +
        service_at("named", named.port()) + tcp_route("any", "term", "{name: echo, port: 80}") +
        tls_route("named", "term", "named.upstream.test", "{name: named, port: 80}")));
    // The echo sends back a response-shaped message: the client's TLS
    // exchange reads it as the answer.
    const std::string message = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain";
    {
      tls_client_options o;
      o.sni = "upstream.test";
      o.verify_ca_file = pki.path("ca.crt");
      tls_client c(gw.port(), o);
      REQUIRE_MESSAGE(c.connected(), c.error());
      CHECK(c.alpn().empty());
      CHECK(c.exchange(message) == message);
    }
    CHECK(echo.connections() == 1);
    {
      tls_client_options o;
      o.sni = "named.upstream.test";
      tls_client c(gw.port(), o);
      REQUIRE_MESSAGE(c.connected(), c.error());
      CHECK(c.exchange(message) == "named:" + message);
    }
    CHECK(named.connections() == 1);
  }

  TEST_CASE("a reload keeps an open connection, a stop closes it at the drain deadline") {
    byte_server echo;
    const std::string yaml = gateway_head + "  - {name: raw, port: 9000, protocol: TCP}\n" +
                             service_at("echo", echo.port()) +
                             tcp_route("echo", "raw", "{name: echo, port: 80}");
    auto gw = std::make_unique<running_gateway>(load_on_loopback(yaml));
    plain_client c(gw->port());
    REQUIRE(c.send("before"));
    CHECK(c.read(6) == "before");
    // A reload that changes the route's backend weight leaves it as it was.
    auto next = load_on_loopback(gateway_head + "  - {name: raw, port: 9000, protocol: TCP}\n" +
                                 service_at("echo", echo.port()) +
                                 tcp_route("echo", "raw", "{name: echo, port: 80, weight: 5}"));
    for (auto& l : next.listeners)
      l.bind_port = gw->port();
    gw->server().reload(std::move(next));
    REQUIRE(c.send("after"));
    CHECK(c.read(5) == "after");
    // New connections are served by the new config too.
    {
      plain_client d(gw->port());
      REQUIRE(d.send("new"));
      CHECK(d.read(3) == "new");
    }
    // A graceful stop waits for it until the deadline, then closes it.
    std::thread stopper([&] { gw->server().stop(std::chrono::milliseconds(300)); });
    CHECK(c.closed_by_peer());
    stopper.join();
    CHECK(echo.connections() == 2);
  }
}
