#pragma once
// TLS peers for tests: certificates made at run time with the openssl command
// (a CA, a server certificate for upstream.test and 127.0.0.1, a client
// certificate, and a second CA that trusts none of them), and an HTTPS
// upstream on OpenSSL that can require a client certificate.
#include <atomic>
#include <cstdint>
#include <memory>
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

  // Makes `name`.crt and `name`.key: a certificate for `cn` signed by `ca`
  // ("ca" or "other-ca"), with extensions `ext` (openssl x509 -extfile
  // lines), on a P-256 ("ec") or 2048-bit RSA ("rsa") key.
  void issue(const std::string& name, const std::string& cn, const std::string& ext,
             const std::string& key_type = "ec", const std::string& ca = "ca") const;
  // Writes `name`.ocsp: a DER OCSP response from the CA about `name`.crt.
  void ocsp_response(const std::string& name) const;
  // Writes `name`.stale-ocsp: one whose nextUpdate passed an hour ago.
  void stale_ocsp_response(const std::string& name) const;

 private:
  std::string dir_;
};

// What a test TLS client offers.
struct tls_client_options {
  std::string sni;      // "" sends none
  int min_version = 0;  // TLS1_2_VERSION...; 0: OpenSSL's default
  int max_version = 0;
  bool legacy = false;              // security level 0, so TLS 1.0/1.1 can be offered
  std::vector<std::string> alpn;    // offered protocols
  std::string cert_file, key_file;  // a client certificate
  std::string sigalgs;              // restricts the server's certificate key type
  std::string ciphers;              // TLS 1.2 cipher list
  bool request_ocsp = false;
  std::shared_ptr<void> session;  // a session from an earlier client, to resume
  // Verifies the server's certificate against this CA file and its name
  // against `sni`: the handshake fails otherwise.
  std::string verify_ca_file;
};

// A blocking TLS client over a loopback connection (5 s bound on every step).
class tls_client {
 public:
  tls_client(std::uint16_t port, const tls_client_options& options);
  ~tls_client();
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

  bool connected() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string server_cn() const;        // the certificate's subject CN
  std::string server_key_type() const;  // "RSA" or "EC"
  std::string server_fingerprint() const;
  std::string alpn() const;
  std::string version() const;
  bool resumed() const;
  std::string ocsp() const;  // the stapled OCSP response, "" if none
  // Sends `request` and reads one response (Content-Length framed, or up to
  // the close); "" when the connection failed.
  std::string exchange(const std::string& request);
  // The session to resume with (after an exchange, for TLS 1.3 tickets).
  std::shared_ptr<void> session() const;

 private:
  int fd_ = -1;
  void* ctx_ = nullptr;  // SSL_CTX*
  void* ssl_ = nullptr;  // SSL*
  bool ok_ = false;
  std::string error_;
};

// `text` as a YAML block scalar's lines, each indented by `spaces`.
std::string yaml_block(const std::string& text, int spaces);
// A kubernetes.io/tls Secret `name` (starting with "---") holding `base`.crt
// and `base`.key of `pki`.
std::string tls_secret_yaml(const test_pki& pki, const std::string& name, const std::string& base);
// A ConfigMap `name` (starting with "---") whose ca.crt is `file` of `pki`.
std::string ca_config_map_yaml(const test_pki& pki, const std::string& name,
                               const std::string& file = "ca.crt");

// A GET for `path` with Host `host`, keep-alive.
std::string get_request(const std::string& host, const std::string& path = "/");

class test_tls_upstream {
 public:
  // Serves with `cert`.crt (of `pki`); with `require_client_cert`, requires
  // a client certificate the CA signed.
  explicit test_tls_upstream(const test_pki& pki, bool require_client_cert = false,
                             const std::string& cert = "server");
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
