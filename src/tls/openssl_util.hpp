#pragma once
// Small OpenSSL helpers shared by the TLS code in src/tls/ (the only place
// that includes OpenSSL headers).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

namespace gateway::tls {

// The newest error on OpenSSL's queue, as text (and the queue cleared).
inline std::string openssl_error() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0)
    last = code;
  if (!last) return "unknown error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

// A read-only memory BIO over `text` (which must outlive it).
struct bio_ptr {
  BIO* b;
  explicit bio_ptr(const std::string& text)
      : b(BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))) {}
  ~bio_ptr() { BIO_free(b); }
  bio_ptr(const bio_ptr&) = delete;
  bio_ptr& operator=(const bio_ptr&) = delete;
};

// Every certificate in a PEM bundle, in order; the caller frees them.
inline std::vector<X509*> read_certificates(const std::string& pem) {
  std::vector<X509*> out;
  bio_ptr bio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.b, nullptr, nullptr, nullptr))
    out.push_back(cert);
  ERR_clear_error();  // the end of the bundle reads as an error
  return out;
}

}  // namespace gateway::tls
