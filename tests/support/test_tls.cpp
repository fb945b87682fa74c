#include "test_tls.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace gwtest {

namespace {
void run(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0)
    throw std::runtime_error("test_pki: failed: " + command);
}

bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) > 0;
}
}  // namespace

test_pki::test_pki() {
  char tmpl[] = "/tmp/gateway-pki-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("test_pki: mkdtemp");
  dir_ = tmpl;
  const std::string d = dir_;
  auto ca = [&](const std::string& name, const std::string& cn) {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" +
        cn + " -keyout " + d + "/" + name + ".key -out " + d + "/" + name + ".crt");
  };
  auto leaf = [&](const std::string& name, const std::string& cn, const std::string& ext) {
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + cn +
        " -keyout " + d + "/" + name + ".key -out " + d + "/" + name + ".csr");
    std::ofstream(d + "/" + name + ".ext") << ext << "\n";
    run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.crt -CAkey " + d +
        "/ca.key -CAcreateserial -days 2 -extfile " + d + "/" + name + ".ext -out " + d + "/" +
        name + ".crt");
  };
  ca("ca", "gateway-test-ca");
  ca("other-ca", "someone-else");
  leaf("server", "upstream.test",
       "subjectAltName=DNS:upstream.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
  leaf("client", "gateway-client", "extendedKeyUsage=clientAuth");
}

test_pki::~test_pki() {
  std::system(("rm -rf '" + dir_ + "'").c_str());
}

std::string test_pki::read(const std::string& file) const {
  std::ifstream in(path(file));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

test_tls_upstream::test_tls_upstream(const test_pki& pki, bool require_client_cert) {
  // OpenSSL writes with write(2): a peer that left would raise SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, pki.path("server.crt").c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, pki.path("server.key").c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("test_tls_upstream: cannot load the server certificate");
  if (require_client_cert) {
    SSL_CTX_load_verify_locations(ctx, pki.path("ca.crt").c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  static const unsigned char id[] = "gateway-test";
  SSL_CTX_set_session_id_context(ctx, id, sizeof id - 1);
  ctx_ = ctx;
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("test_tls_upstream: cannot listen");
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] {
    while (!stopping_) {
      if (!wait_readable(listen_fd_, 50)) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) threads_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

test_tls_upstream::~test_tls_upstream() {
  stopping_ = true;
  acceptor_.join();
  for (auto& t : threads_)
    t.join();
  ::close(listen_fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

std::string test_tls_upstream::last_sni() {
  std::lock_guard lock(mutex_);
  return last_sni_;
}

void test_tls_upstream::serve(int fd) {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  SSL_set_fd(ssl, fd);
  // Non-blocking I/O with a poll before each retry, so a stopping server does not hang.
  bool ok = false;
  for (int waits = 0; waits < 100 && !stopping_; ++waits) {
    const int r = SSL_accept(ssl);
    if (r == 1) {
      ok = true;
      break;
    }
    const int e = SSL_get_error(ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;
    wait_readable(fd, 50);
  }
  if (!ok) {
    ++failed_;
  } else {
    ++handshakes_;
    if (SSL_session_reused(ssl)) ++resumed_;
    {
      std::lock_guard lock(mutex_);
      const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      last_sni_ = sni ? sni : "";
    }
    std::string subject = "none";
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      char buf[256];
      X509_NAME_oneline(X509_get_subject_name(peer), buf, sizeof buf);
      subject = buf;
      X509_free(peer);
    }
    std::string in;
    while (!stopping_) {
      const auto end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        ++requests_;
        in.erase(0, end + 4);
        const std::string body = "tls ok, client " + subject;
        const std::string response =
            "HTTP/1.1 200 OK\r\ncontent-length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        int w = 0;
        for (int tries = 0; tries < 100 && (w = SSL_write(ssl, response.data(),
                                                          static_cast<int>(response.size()))) <= 0;
             ++tries) {
          if (SSL_get_error(ssl, w) != SSL_ERROR_WANT_WRITE) break;
          ::usleep(1000);
        }
        if (w <= 0) break;
        continue;
      }
      if (SSL_pending(ssl) == 0 && !wait_readable(fd, 50)) continue;
      char buf[4096];
      const int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) {
        const int e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
        break;
      }
      in.append(buf, static_cast<std::size_t>(n));
    }
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  ::close(fd);
}

}  // namespace gwtest
