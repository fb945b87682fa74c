#pragma once
// TLS peers for tests: certificates made at run time with the openssl command
// (a CA, a server certificate for upstream.test and 127.0.0.1, a client
// certificate, and a second CA that trusts none of them), and an HTTPS
// upstream on OpenSSL that can require a client certificate.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gwtest {

class test_pki {
 public:
  test_pki();  // throws when the openssl command fails
  ~test_pki();
  std::string read(const std::string& file) const;  // a file's PEM text
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  // Files: ca.crt, other-ca.crt, server.crt, server.key, client.crt, client.key.

 private:
  std::string dir_;
};

class test_tls_upstream {
 public:
  // Serves with server.crt; with `client_ca`, requires a client certificate it signed.
  explicit test_tls_upstream(const test_pki& pki, bool require_client_cert = false);
  ~test_tls_upstream();
  test_tls_upstream(const test_tls_upstream&) = delete;
  test_tls_upstream& operator=(const test_tls_upstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::size_t handshakes() const { return handshakes_.load(); }
  std::size_t resumed() const { return resumed_.load(); }
  std::size_t requests() const { return requests_.load(); }
  std::size_t failed_handshakes() const { return failed_.load(); }
  // The SNI of the last handshake.
  std::string last_sni();

 private:
  void serve(int fd);
  void* ctx_ = nullptr;  // SSL_CTX*
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> handshakes_{0}, resumed_{0}, requests_{0}, failed_{0};
  std::mutex mutex_;
  std::string last_sni_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace gwtest
