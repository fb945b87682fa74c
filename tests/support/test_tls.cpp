#include "test_tls.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
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

void test_pki::issue(const std::string& name, const std::string& cn, const std::string& ext,
                     const std::string& key_type, const std::string& ca) const {
  const std::string d = dir_;
  const std::string key = key_type == "rsa" ? "rsa:2048" : "ec -pkeyopt ec_paramgen_curve:P-256";
  run("openssl req -newkey " + key + " -nodes -subj '/CN=" + cn + "' -keyout " + d + "/" + name +
      ".key -out " + d + "/" + name + ".csr");
  std::ofstream(d + "/" + name + ".ext") << ext << "\n";
  run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/" + ca + ".crt -CAkey " + d +
      "/" + ca + ".key -CAcreateserial -days 2 -extfile " + d + "/" + name + ".ext -out " + d +
      "/" + name + ".crt");
}

void test_pki::ocsp_response(const std::string& name) const {
  const std::string d = dir_;
  std::ofstream(d + "/index.txt").flush();
  run("openssl ocsp -issuer " + d + "/ca.crt -cert " + d + "/" + name + ".crt -no_nonce -reqout " +
      d + "/" + name + ".ocsp-req");
  run("openssl ocsp -index " + d + "/index.txt -rsigner " + d + "/ca.crt -rkey " + d +
      "/ca.key -CA " + d + "/ca.crt -reqin " + d + "/" + name + ".ocsp-req -respout " + d + "/" +
      name + ".ocsp -ndays 1");
}

void test_pki::stale_ocsp_response(const std::string& name) const {
  auto load_cert = [&](const std::string& file) {
    FILE* f = std::fopen(path(file).c_str(), "r");
    X509* c = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
    if (f) std::fclose(f);
    return c;
  };
  X509* ca = load_cert("ca.crt");
  X509* leaf = load_cert(name + ".crt");
  FILE* kf = std::fopen(path("ca.key").c_str(), "r");
  EVP_PKEY* key = kf ? PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr) : nullptr;
  if (kf) std::fclose(kf);
  if (!ca || !leaf || !key) throw std::runtime_error("stale_ocsp_response: cannot read the PKI");
  OCSP_BASICRESP* basic = OCSP_BASICRESP_new();
  OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), leaf, ca);
  ASN1_TIME* this_update = X509_gmtime_adj(nullptr, -2 * 3600);
  ASN1_TIME* next_update = X509_gmtime_adj(nullptr, -3600);
  OCSP_basic_add1_status(basic, id, V_OCSP_CERTSTATUS_GOOD, 0, nullptr, this_update, next_update);
  OCSP_basic_sign(basic, ca, key, EVP_sha256(), nullptr, 0);
  OCSP_RESPONSE* resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
  unsigned char* der = nullptr;
  const int n = i2d_OCSP_RESPONSE(resp, &der);
  std::ofstream(path(name + ".stale-ocsp"), std::ios::binary)
      .write(reinterpret_cast<const char*>(der), n);
  OPENSSL_free(der);
  OCSP_RESPONSE_free(resp);
  OCSP_BASICRESP_free(basic);
  OCSP_CERTID_free(id);
  ASN1_TIME_free(this_update);
  ASN1_TIME_free(next_update);
  EVP_PKEY_free(key);
  X509_free(leaf);
  X509_free(ca);
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

test_tls_upstream::test_tls_upstream(const test_pki& pki, bool require_client_cert,
                                     const std::string& cert) {
  // OpenSSL writes with write(2): a peer that left would raise SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, pki.path(cert + ".crt").c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, pki.path(cert + ".key").c_str(), SSL_FILETYPE_PEM) != 1)
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

tls_client::tls_client(std::uint16_t port, const tls_client_options& o) {
  ::signal(SIGPIPE, SIG_IGN);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ctx_ = ctx;
  if (o.legacy) {
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT@SECLEVEL=0");
  }
  if (o.min_version) SSL_CTX_set_min_proto_version(ctx, o.min_version);
  if (o.max_version) SSL_CTX_set_max_proto_version(ctx, o.max_version);
  if (!o.sigalgs.empty()) SSL_CTX_set1_sigalgs_list(ctx, o.sigalgs.c_str());
  if (!o.ciphers.empty()) SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& p : o.alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  if (!o.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error_ = "connect failed";
    return;
  }
  SSL* ssl = SSL_new(ctx);
  ssl_ = ssl;
  SSL_set_fd(ssl, fd_);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl, o.sni.c_str());
  if (!o.verify_ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx, o.verify_ca_file.c_str(), nullptr);
    SSL_set_verify(ssl, SSL_VERIFY_PEER, nullptr);
    SSL_set1_host(ssl, o.sni.c_str());
  }
  if (o.request_ocsp) SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
  if (o.session) SSL_set_session(ssl, static_cast<SSL_SESSION*>(o.session.get()));
  ERR_clear_error();
  if (SSL_connect(ssl) != 1) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    error_ = buf;
    return;
  }
  ok_ = true;
}

tls_client::~tls_client() {
  // A clean close (close_notify), or OpenSSL marks the session unresumable.
  if (ssl_ && ok_) SSL_shutdown(static_cast<SSL*>(ssl_));
  if (ssl_) SSL_free(static_cast<SSL*>(ssl_));
  if (fd_ >= 0) ::close(fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

namespace {
std::string cn_of(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}
}  // namespace

std::string tls_client::server_cn() const {
  if (!ok_) return "";
  X509* peer = SSL_get1_peer_certificate(static_cast<SSL*>(ssl_));
  if (!peer) return "";
  std::string cn = cn_of(peer);
  X509_free(peer);
  return cn;
}

std::string tls_client::server_key_type() const {
  if (!ok_) return "";
  X509* peer = SSL_get1_peer_certificate(static_cast<SSL*>(ssl_));
  if (!peer) return "";
  const int id = EVP_PKEY_base_id(X509_get0_pubkey(peer));
  X509_free(peer);
  return id == EVP_PKEY_RSA ? "RSA" : id == EVP_PKEY_EC ? "EC" : "other";
}

std::string tls_client::server_fingerprint() const {
  if (!ok_) return "";
  X509* peer = SSL_get1_peer_certificate(static_cast<SSL*>(ssl_));
  if (!peer) return "";
  unsigned char md[32];
  unsigned n = 0;
  X509_digest(peer, EVP_sha256(), md, &n);
  X509_free(peer);
  std::string out;
  char b[3];
  for (unsigned i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", md[i]);
    out += b;
  }
  return out;
}

std::string tls_client::alpn() const {
  if (!ok_) return "";
  const unsigned char* p = nullptr;
  unsigned n = 0;
  SSL_get0_alpn_selected(static_cast<SSL*>(ssl_), &p, &n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

std::string tls_client::version() const {
  return ok_ ? SSL_get_version(static_cast<SSL*>(ssl_)) : "";
}

bool tls_client::resumed() const {
  return ok_ && SSL_session_reused(static_cast<SSL*>(ssl_)) == 1;
}

std::string tls_client::ocsp() const {
  if (!ok_) return "";
  const unsigned char* p = nullptr;
  long n = SSL_get_tlsext_status_ocsp_resp(static_cast<SSL*>(ssl_), &p);
  return n > 0 && p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                    : "";
}

std::string tls_client::exchange(const std::string& request) {
  if (!ok_) return "";
  SSL* ssl = static_cast<SSL*>(ssl_);
  if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) {
    ok_ = false;
    return "";
  }
  std::string in;
  char buf[16384];
  for (;;) {
    const std::size_t head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::string lower = in.substr(0, head_end);
      for (auto& c : lower)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const std::size_t cl = lower.find("content-length:");
      if (cl != std::string::npos) {
        const std::size_t length = std::stoul(lower.substr(cl + 15));
        if (in.size() >= head_end + 4 + length) return in.substr(0, head_end + 4 + length);
      }
    }
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) {
      ok_ = false;
      return in;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
}

std::shared_ptr<void> tls_client::session() const {
  if (!ssl_) return nullptr;
  SSL_SESSION* s = SSL_get1_session(static_cast<SSL*>(ssl_));
  if (!s) return nullptr;
  return std::shared_ptr<void>(s, [](void* p) { SSL_SESSION_free(static_cast<SSL_SESSION*>(p)); });
}

std::string yaml_block(const std::string& text, int spaces) {
  std::string out;
  const std::string pad(static_cast<std::size_t>(spaces), ' ');
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    out += pad + text.substr(at, end - at) + "\n";
    at = end + 1;
  }
  return out;
}

std::string tls_secret_yaml(const test_pki& pki, const std::string& name, const std::string& base) {
  return "---\napiVersion: v1\nkind: Secret\nmetadata: {name: " + name +
         "}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" +
         yaml_block(pki.read(base + ".crt"), 4) + "  tls.key: |\n" +
         yaml_block(pki.read(base + ".key"), 4);
}

std::string ca_config_map_yaml(const test_pki& pki, const std::string& name,
                               const std::string& file) {
  return "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name +
         "}\ndata:\n  ca.crt: |\n" + yaml_block(pki.read(file), 4);
}

std::string get_request(const std::string& host, const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
}

}  // namespace gwtest
