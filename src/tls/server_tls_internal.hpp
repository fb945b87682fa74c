#pragma once
// What the two halves of the TLS server share (src/tls only): the context's
// internals, the state the OpenSSL callbacks keep per connection, and the
// certificate text helpers. server_tls.cpp builds contexts; server_stream.cpp
// runs connections on them.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls/server_tls.hpp"

namespace gateway::tls {

// The context: its certificates, its listeners and the SSL_CTX built from them.
struct server_context::impl {
  struct certificate {
    X509* leaf = nullptr;
    STACK_OF(X509) * chain = nullptr;
    EVP_PKEY* key = nullptr;
    int key_type = 0;
    std::vector<std::string> names;  // DNS names (or the CN), lowercased
    std::string ocsp;
    std::time_t ocsp_expires = 0;  // the response's nextUpdate (0: none given)
  };
  // Certificates for one set of names, one per key type.
  struct cert_group {
    std::vector<std::string> names;
    std::vector<std::size_t> certs;  // indexes into `certs`
  };
  struct listener {
    std::string name, hostname;
    std::vector<cert_group> groups;
    int min_version = TLS1_2_VERSION, max_version = TLS1_3_VERSION;
    std::string ciphers, suites, curves, sigalgs;
    std::string alpn;  // wire format
    bool tickets = true;
    // Client validation (store null: none); owned here so a listener that
    // fails halfway through its checks frees them too.
    struct store_free {
      void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
    };
    struct names_free {
      void operator()(STACK_OF(X509_NAME) * p) const noexcept {
        sk_X509_NAME_pop_free(p, X509_NAME_free);
      }
    };
    std::unique_ptr<X509_STORE, store_free> store;
    std::unique_ptr<STACK_OF(X509_NAME), names_free> ca_names;
    bool optional = false;
    std::vector<std::array<unsigned char, 32>> cert_pins, spki_pins;
    std::uint64_t validation = 0;
    std::array<unsigned char, 32> sid_ctx{};
  };

  SSL_CTX* ctx = nullptr;
  std::vector<certificate> certs;
  std::vector<listener> listeners;
  std::size_t default_listener = 0;
  std::string definition;
  std::chrono::milliseconds handshake_timeout{10000};
  std::size_t max_pending = 0;
  std::vector<std::string> files, warnings;
  std::vector<certificate_expiry> expiry;

  ~impl() {
    for (auto& c : certs) {
      X509_free(c.leaf);
      sk_X509_pop_free(c.chain, X509_free);
      EVP_PKEY_free(c.key);
    }
    SSL_CTX_free(ctx);
  }

  std::size_t add_certificate(const tls_certificate& c, const std::string& where);
  void add_listener(const server_listener& in);
  std::size_t pick_listener(std::string_view sni) const noexcept;
  const cert_group& pick_group(const listener& l, std::string_view sni) const noexcept;
  // Sets `l`'s versions, ciphers, validation and session context on `ssl`.
  void apply(const listener& l, SSL* ssl) const noexcept;
  void install(const cert_group& g, SSL* ssl) const noexcept;
};

// What the callbacks know of a connection (SSL app data).
struct connection_state {
  const server_context::impl* ctx = nullptr;
  std::size_t listener = 0;
  char sni_buf[256];
  std::string_view sni;
};

namespace detail {
// A certificate name's one-line text (RFC 2253).
std::string name_text(const X509_NAME* name);
// Lowercase hex of `n` bytes.
std::string hex(const unsigned char* p, std::size_t n);
std::array<unsigned char, 32> cert_sha256(X509* cert);
std::array<unsigned char, 32> spki_sha256(X509* cert);
std::string pem_of(X509* cert);
// subjectAltName entries of `type` (GEN_DNS, GEN_URI).
std::vector<std::string> alt_names(X509* cert, int type);
}  // namespace detail

}  // namespace gateway::tls
