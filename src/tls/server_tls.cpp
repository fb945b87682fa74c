// TLS termination on OpenSSL, the context half: certificates (with OCSP
// staples), listeners picked by SNI, ALPN, client validation and pins. The
// connections that run on it are server_stream.cpp's.
#include "tls/server_tls_internal.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "router/host_name.hpp"
#include "tls/digest.hpp"
#include "tls/openssl_util.hpp"

namespace gateway::tls {

namespace {

// --- certificate text ------------------------------------------------------

std::string bio_text(BIO* mem) {
  char* data = nullptr;
  long n = BIO_get_mem_data(mem, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

namespace detail {

std::string name_text(const X509_NAME* name) {
  BIO* mem = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253);
  std::string out = bio_text(mem);
  BIO_free(mem);
  return out;
}

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

std::array<unsigned char, 32> cert_sha256(X509* cert) {
  std::array<unsigned char, 32> md{};
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md.data(), &n);
  return md;
}

std::array<unsigned char, 32> spki_sha256(X509* cert) {
  std::array<unsigned char, 32> md{};
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
  if (n > 0) {
    auto d =
        sha256(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n)));
    std::copy(d.begin(), d.end(), md.begin());
  }
  OPENSSL_free(der);
  return md;
}

std::string pem_of(X509* cert) {
  BIO* mem = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(mem, cert);
  std::string out = bio_text(mem);
  BIO_free(mem);
  return out;
}

std::vector<std::string> alt_names(X509* cert, int type) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != type) continue;
    const ASN1_IA5STRING* s = type == GEN_DNS ? g->d.dNSName : g->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace detail

using namespace detail;

namespace {

std::string read_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw error(errc::invalid_config,
                fmt::format("cannot read {} file {}: {}", what, path, std::strerror(errno)));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int no_passphrase(char*, int, int, void*) {
  return 0;  // an encrypted key is an error, never a prompt on the terminal
}

int version_of(const std::string& v, const std::string& where) {
  if (v == "1.2") return TLS1_2_VERSION;
  if (v == "1.3") return TLS1_3_VERSION;
  if (v == "1.0" || v == "1.1")
    throw error(
        errc::invalid_config,
        fmt::format(
            "{}: TLS {} is not supported (insecure; OpenSSL 3 refuses it above security level 0)",
            where, v));
  throw error(errc::invalid_config, fmt::format("{}: TLS version '{}' (use 1.2 or 1.3)", where, v));
}

constexpr const char* default_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* default_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* default_groups = "X25519:P-256:P-384";
constexpr const char* default_sigalgs =
    "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ed25519:ed448:rsa_pss_pss_sha256:rsa_pss_pss_sha384:"
    "rsa_pss_pss_sha512:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:"
    "RSA+SHA256:RSA+SHA384:RSA+SHA512";

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out.append(out.empty() ? "" : ":").append(s);
  return out;
}

// Whether a certificate name (exact or "*.x") covers `host` (RFC 6125: the
// wildcard is the whole leftmost label).
bool name_covers(std::string_view name, std::string_view host) {
  if (name.starts_with("*.")) {
    std::string_view suffix = name.substr(1);
    return host.size() > suffix.size() && host.ends_with(suffix) &&
           host.substr(0, host.size() - suffix.size()).find('.') == std::string_view::npos;
  }
  return name == host;
}

// The first host_name in a ClientHello's server_name extension, lowercased.
std::string_view client_hello_sni(SSL* ssl, char (&buf)[256]) {
  const unsigned char* p = nullptr;
  std::size_t len = 0;
  if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 2) return {};
  std::size_t list = (std::size_t(p[0]) << 8) | p[1];
  if (list + 2 > len) return {};
  std::size_t at = 2;
  while (at + 3 <= 2 + list) {
    const unsigned type = p[at];
    std::size_t n = (std::size_t(p[at + 1]) << 8) | p[at + 2];
    at += 3;
    if (at + n > 2 + list) return {};
    if (type == 0) {  // host_name
      if (n > 0 && p[at + n - 1] == '.') --n;
      if (n == 0 || n >= sizeof buf) return {};
      for (std::size_t i = 0; i < n; ++i) {
        char c = static_cast<char>(p[at + i]);
        buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      }
      return {buf, n};
    }
    at += n;
  }
  return {};
}

int on_client_hello(SSL* ssl, int*, void*) {
  auto* st = static_cast<connection_state*>(SSL_get_app_data(ssl));
  const auto& ctx = *st->ctx;
  st->sni = client_hello_sni(ssl, st->sni_buf);
  st->listener = ctx.pick_listener(st->sni);
  const auto& l = ctx.listeners[st->listener];
  // The context holds the default listener's settings and first certificates:
  // most handshakes change nothing here.
  if (st->listener != ctx.default_listener) ctx.apply(l, ssl);
  const auto& g = ctx.pick_group(l, st->sni);
  if (st->listener != ctx.default_listener || &g != &l.groups.front()) ctx.install(g, ssl);
  return SSL_CLIENT_HELLO_SUCCESS;
}

int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
  auto* st = static_cast<connection_state*>(SSL_get_app_data(ssl));
  const std::string& ours = st->ctx->listeners[st->listener].alpn;
  // A listener that offers nothing (TLS carrying TCPRoutes) agrees to no
  // protocol and lets the handshake go on.
  if (ours.empty()) return SSL_TLSEXT_ERR_NOACK;
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(ours.data()),
                            static_cast<unsigned>(ours.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol (RFC 7301)
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int on_status_request(SSL* ssl, void*) {
  auto* st = static_cast<connection_state*>(SSL_get_app_data(ssl));
  X509* served = SSL_get_certificate(ssl);
  for (const auto& c : st->ctx->certs) {
    if (c.leaf != served || c.ocsp.empty()) continue;
    // A response past its nextUpdate is worse than none: clients reject it.
    if (c.ocsp_expires && std::time(nullptr) >= c.ocsp_expires) return SSL_TLSEXT_ERR_NOACK;
    void* copy = OPENSSL_memdup(c.ocsp.data(), c.ocsp.size());
    if (!copy) return SSL_TLSEXT_ERR_NOACK;
    SSL_set_tlsext_status_ocsp_resp(ssl, static_cast<unsigned char*>(copy),
                                    static_cast<long>(c.ocsp.size()));
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// Chain verification, then the listener's pins on the client's certificate.
int on_verify(int ok, X509_STORE_CTX* store) {
  if (!ok || X509_STORE_CTX_get_error_depth(store) != 0) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* st = static_cast<connection_state*>(SSL_get_app_data(ssl));
  const auto& l = st->ctx->listeners[st->listener];
  if (l.cert_pins.empty() && l.spki_pins.empty()) return 1;
  X509* cert = X509_STORE_CTX_get_current_cert(store);
  auto c = cert_sha256(cert);
  auto s = spki_sha256(cert);
  if (std::find(l.cert_pins.begin(), l.cert_pins.end(), c) != l.cert_pins.end() ||
      std::find(l.spki_pins.begin(), l.spki_pins.end(), s) != l.spki_pins.end())
    return 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}
}  // namespace

std::size_t server_context::impl::pick_listener(std::string_view sni) const noexcept {
  if (listeners.size() == 1 || sni.empty()) return default_listener;
  for (std::size_t i = 0; i < listeners.size(); ++i)
    if (listener_hostname_covers(listeners[i].hostname, sni)) return i;
  return default_listener;
}

const server_context::impl::cert_group& server_context::impl::pick_group(
    const listener& l, std::string_view sni) const noexcept {
  if (l.groups.size() == 1 || sni.empty()) return l.groups.front();
  for (const auto& g : l.groups)
    for (const auto& n : g.names)
      if (n == sni) return g;
  for (const auto& g : l.groups)
    for (const auto& n : g.names)
      if (n.starts_with("*.") && name_covers(n, sni)) return g;
  return l.groups.front();
}

void server_context::impl::apply(const listener& l, SSL* ssl) const noexcept {
  SSL_set_min_proto_version(ssl, l.min_version);
  SSL_set_max_proto_version(ssl, l.max_version);
  SSL_set_cipher_list(ssl, l.ciphers.c_str());
  SSL_set_ciphersuites(ssl, l.suites.c_str());
  SSL_set1_groups_list(ssl, l.curves.c_str());
  SSL_set1_sigalgs_list(ssl, l.sigalgs.c_str());
  if (l.tickets)
    SSL_clear_options(ssl, SSL_OP_NO_TICKET);
  else
    SSL_set_options(ssl, SSL_OP_NO_TICKET);
  SSL_set_session_id_context(ssl, l.sid_ctx.data(), static_cast<unsigned>(l.sid_ctx.size()));
  if (l.store) {
    SSL_set_verify(ssl, SSL_VERIFY_PEER | (l.optional ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
                   on_verify);
    SSL_set1_verify_cert_store(ssl, l.store.get());
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(l.ca_names.get()));
  } else {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
  }
}

void server_context::impl::install(const cert_group& g, SSL* ssl) const noexcept {
  SSL_certs_clear(ssl);
  for (std::size_t i : g.certs)
    SSL_use_cert_and_key(ssl, certs[i].leaf, certs[i].key, certs[i].chain, 1);
}

std::size_t server_context::impl::add_certificate(const tls_certificate& c,
                                                  const std::string& where) {
  const std::string what = where + ": certificate " + (c.source.empty() ? "" : c.source + " ");
  std::string cert_pem = c.cert_pem, key_pem = c.key_pem, ocsp = c.ocsp_der;
  if (cert_pem.empty()) {
    if (c.cert_file.empty())
      throw error(errc::invalid_config, fmt::format("{}has no certificate PEM", what));
    cert_pem = read_file(c.cert_file, what + "certificate");
    files.push_back(c.cert_file);
  }
  if (key_pem.empty()) {
    if (c.key_file.empty())
      throw error(errc::invalid_config, fmt::format("{}has no private key PEM", what));
    key_pem = read_file(c.key_file, what + "key");
    files.push_back(c.key_file);
  }
  if (ocsp.empty() && !c.ocsp_file.empty()) {
    ocsp = read_file(c.ocsp_file, what + "OCSP response");
    files.push_back(c.ocsp_file);
  }
  definition.append(cert_pem).append(key_pem).append(ocsp).push_back('\n');
  certificate out;
  std::vector<X509*> chain = read_certificates(cert_pem);
  if (chain.empty())
    throw error(errc::invalid_config, fmt::format("{}holds no PEM certificate", what));
  out.leaf = chain.front();
  out.chain = sk_X509_new_null();
  for (std::size_t i = 1; i < chain.size(); ++i)
    sk_X509_push(out.chain, chain[i]);
  certs.push_back(out);  // owned (and freed) from here on
  certificate& kept = certs.back();
  {
    bio_ptr bio(key_pem);
    kept.key = PEM_read_bio_PrivateKey(bio.b, nullptr, no_passphrase, nullptr);
  }
  if (!kept.key)
    throw error(errc::invalid_config,
                fmt::format("{}private key: {} (an encrypted key is not supported)", what,
                            openssl_error()));
  if (X509_check_private_key(kept.leaf, kept.key) != 1) {
    ERR_clear_error();
    throw error(errc::invalid_config,
                fmt::format("{}private key does not match the certificate", what));
  }
  kept.key_type = EVP_PKEY_base_id(kept.key);
  {
    // OpenSSL's own checks (key size and digest at the security level).
    const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_server_method()),
                                                                  SSL_CTX_free);
    const int ok = SSL_CTX_use_cert_and_key(probe.get(), kept.leaf, kept.key, kept.chain, 1);
    if (ok != 1)
      throw error(errc::invalid_config, fmt::format("{}is not usable: {}", what, openssl_error()));
  }
  for (auto& n : alt_names(kept.leaf, GEN_DNS)) {
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    kept.names.push_back(std::move(n));
  }
  if (kept.names.empty()) {
    const X509_NAME* subject = X509_get_subject_name(kept.leaf);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
      std::string n(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                    static_cast<std::size_t>(ASN1_STRING_length(cn)));
      std::transform(n.begin(), n.end(), n.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      kept.names.push_back(std::move(n));
    }
  }
  std::sort(kept.names.begin(), kept.names.end());
  if (!ocsp.empty()) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(ocsp.data());
    OCSP_RESPONSE* r = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(ocsp.size()));
    if (!r) {
      ERR_clear_error();
      throw error(errc::invalid_config,
                  fmt::format("{}OCSP response is not a DER OCSPResponse", what));
    }
    // Its first answer's nextUpdate bounds how long it may be stapled.
    if (OCSP_BASICRESP* basic = OCSP_response_get1_basic(r)) {
      ASN1_GENERALIZEDTIME* next = nullptr;
      if (OCSP_SINGLERESP* single = OCSP_resp_get0(basic, 0))
        OCSP_single_get0_status(single, nullptr, nullptr, nullptr, &next);
      std::tm when{};
      if (next && ASN1_TIME_to_tm(next, &when) == 1) kept.ocsp_expires = timegm(&when);
      OCSP_BASICRESP_free(basic);
    }
    OCSP_RESPONSE_free(r);
    ERR_clear_error();
    kept.ocsp = std::move(ocsp);
    if (kept.ocsp_expires && std::time(nullptr) >= kept.ocsp_expires)
      warnings.push_back(fmt::format("{}OCSP response is past its nextUpdate: not stapled", what));
  }
  const std::string label = kept.names.empty() ? std::string("(no name)") : kept.names.front();
  if (X509_cmp_current_time(X509_get0_notAfter(kept.leaf)) < 0)
    warnings.push_back(fmt::format("{}for {} has expired", what, label));
  else if (X509_cmp_current_time(X509_get0_notBefore(kept.leaf)) > 0)
    warnings.push_back(fmt::format("{}for {} is not valid yet", what, label));
  return certs.size() - 1;
}

void server_context::impl::add_listener(const server_listener& in) {
  const listener_tls_config& c = *in.config;
  const std::string where = "listener " + in.name;
  listener l;
  l.name = in.name;
  l.hostname = in.hostname;
  if (c.certificates.empty())
    throw error(errc::invalid_config,
                fmt::format("{}: an HTTPS listener needs a certificate", where));
  for (const auto& tc : c.certificates) {
    std::size_t index = add_certificate(tc, where);
    const certificate& cert = certs[index];
    auto same = std::find_if(l.groups.begin(), l.groups.end(),
                             [&](const cert_group& g) { return g.names == cert.names; });
    if (same == l.groups.end()) {
      l.groups.push_back({cert.names, {index}});
      continue;
    }
    for (std::size_t other : same->certs)
      if (certs[other].key_type == cert.key_type)
        throw error(errc::invalid_config,
                    fmt::format("{}: two certificates with the same key type for the same names "
                                "({}); give one RSA and one ECDSA certificate, or different names",
                                where, (cert.names.empty() ? std::string() : cert.names.front())));
    same->certs.push_back(index);
  }
  l.min_version = version_of(c.min_version, where);
  l.max_version = version_of(c.max_version, where);
  if (l.min_version > l.max_version)
    throw error(errc::invalid_config,
                fmt::format("{}: TLS minimum version {} is above the maximum {}", where,
                            c.min_version, c.max_version));
  // Each name on its own: OpenSSL skips unknown ones in a list silently.
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> probe(SSL_CTX_new(TLS_server_method()),
                                                                SSL_CTX_free);
  auto refuse = [&](const char* what, const std::string& name) {
    ERR_clear_error();
    return error(errc::invalid_config, where + ": unknown " + what + " '" + name + "'");
  };
  std::vector<std::string> v12, v13;
  for (const auto& name : c.ciphers) {
    const bool tls13 = name.starts_with("TLS_");
    const int ok = tls13 ? SSL_CTX_set_ciphersuites(probe.get(), name.c_str())
                         : SSL_CTX_set_cipher_list(probe.get(), name.c_str());
    if (ok != 1 || name.find_first_of(":, ") != std::string::npos)
      throw refuse("cipher suite", name);
    (tls13 ? v13 : v12).push_back(name);
  }
  for (const auto& name : c.groups)
    if (SSL_CTX_set1_groups_list(probe.get(), name.c_str()) != 1)
      throw refuse("key exchange group", name);
  for (const auto& name : c.signature_algorithms)
    if (SSL_CTX_set1_sigalgs_list(probe.get(), name.c_str()) != 1)
      throw refuse("signature algorithm", name);
  if (!c.ciphers.empty() && v12.empty() && l.min_version < TLS1_3_VERSION)
    throw error(
        errc::invalid_config,
        fmt::format("{}: the cipher list has no TLS 1.2 suite but TLS 1.2 is allowed", where));
  l.ciphers = v12.empty() ? default_ciphers : join(v12);
  l.suites = v13.empty() ? default_suites : join(v13);
  l.curves = c.groups.empty() ? default_groups : join(c.groups);
  l.sigalgs = c.signature_algorithms.empty() ? default_sigalgs : join(c.signature_algorithms);
  for (const auto& p : c.alpn) {
    if (p != "h2" && p != "http/1.1" && p != "http/1.0")
      throw error(
          errc::invalid_config,
          fmt::format("{}: ALPN protocol '{}' is not served here (h2, http/1.1 and http/1.0 are)",
                      where, p));
    l.alpn.push_back(static_cast<char>(p.size()));
    l.alpn += p;
  }
  l.tickets = c.session_tickets;
  std::string validation;
  if (const auto& v = c.client_validation) {
    std::vector<X509*> cas = read_certificates(v->ca_pem);
    if (cas.empty())
      throw error(
          errc::invalid_config,
          fmt::format("{}: client validation needs CA certificates (PEM) to verify clients with",
                      where));
    l.store.reset(X509_STORE_new());
    l.ca_names.reset(sk_X509_NAME_new_null());
    for (X509* ca : cas) {
      X509_STORE_add_cert(l.store.get(), ca);
      sk_X509_NAME_push(l.ca_names.get(), X509_NAME_dup(X509_get_subject_name(ca)));
      X509_free(ca);
    }
    l.optional = v->optional;
    for (const auto& h : v->certificate_hashes) {
      std::string digits;
      for (char ch : h)
        if (ch != ':')
          digits.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
      std::array<unsigned char, 32> pin{};
      bool ok = digits.size() == 64;
      for (std::size_t i = 0; ok && i < 32; ++i) {
        auto nibble = [&](char ch) {
          return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        };
        int hi = nibble(digits[2 * i]), lo = nibble(digits[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        pin[i] = static_cast<unsigned char>(hi * 16 + lo);
      }
      if (!ok)
        throw error(errc::invalid_config,
                    fmt::format("{}: certificate hash '{}' is not a SHA-256 in hex", where, h));
      l.cert_pins.push_back(pin);
    }
    for (const auto& h : v->spki_hashes) {
      auto raw = base64_decode(h);
      if (!raw || raw->size() != 32)
        throw error(errc::invalid_config,
                    fmt::format("{}: SPKI hash '{}' is not a base64 SHA-256", where, h));
      std::array<unsigned char, 32> pin{};
      std::memcpy(pin.data(), raw->data(), 32);
      l.spki_pins.push_back(pin);
    }
    validation = std::string(v->optional ? "optional\n" : "required\n") + v->ca_pem + "\n" +
                 join(v->certificate_hashes) + "\n" + join(v->spki_hashes);
    auto d = sha256(validation);
    std::memcpy(&l.validation, d.data(), sizeof l.validation);
    if (l.validation == 0) l.validation = 1;
  }
  // Sessions resume only on a listener with the same name and validation.
  l.sid_ctx = sha256(in.name + "\n" + validation);
  definition.append(in.name).append("\n").append(in.hostname).append("\n");
  definition.append(c.min_version).append(c.max_version).append(l.ciphers).append(l.suites);
  definition.append(l.curves).append(l.sigalgs).append(l.alpn).append(validation);
  definition.append(c.session_tickets ? "t" : "-").append(c.session_cache ? "c" : "-");
  definition.append(std::to_string(c.session_timeout.count())).append("\n");
  listeners.push_back(std::move(l));
}

server_context::server_context(std::span<const server_listener> listeners,
                               std::size_t default_listener)
    : impl_(std::make_unique<impl>()) {
  impl& m = *impl_;
  ERR_clear_error();
  for (const auto& l : listeners)
    m.add_listener(l);
  for (const impl::listener& l : m.listeners)
    for (const impl::cert_group& g : l.groups)
      for (std::size_t i : g.certs) {
        const impl::certificate& c = m.certs[i];
        std::tm when{};
        if (ASN1_TIME_to_tm(X509_get0_notAfter(c.leaf), &when) != 1) continue;
        const char* key = c.key_type == EVP_PKEY_RSA       ? "RSA"
                          : c.key_type == EVP_PKEY_EC      ? "EC"
                          : c.key_type == EVP_PKEY_ED25519 ? "Ed25519"
                          : c.key_type == EVP_PKEY_ED448   ? "Ed448"
                                                           : "other";
        m.expiry.push_back({l.name, c.names.empty() ? "(no name)" : c.names.front(), key,
                            static_cast<std::int64_t>(timegm(&when))});
      }
  m.default_listener = default_listener;
  const listener_tls_config& first = *listeners[default_listener].config;
  m.handshake_timeout = first.handshake_timeout;
  m.max_pending = first.max_pending_handshakes;
  for (const auto& l : listeners) {
    m.handshake_timeout = std::min(m.handshake_timeout, l.config->handshake_timeout);
    m.max_pending = std::max(m.max_pending, l.config->max_pending_handshakes);
  }
  {
    // Appended rather than built with operator+: GCC 12 at -O3 warns
    // (-Wstringop-overflow) about `"d" + std::string&&` here.
    std::string tagged = "d";
    tagged.append(std::to_string(default_listener)).append("\n").append(m.definition);
    m.definition = std::move(tagged);
  }
  {
    auto d = sha256(m.definition);
    m.definition = hex(d.data(), d.size());  // the bytes (keys included) are not kept around
  }

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw error(errc::invalid_config, fmt::format("TLS: {}", openssl_error()));
  m.ctx = ctx;
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // RELEASE_BUFFERS: OpenSSL frees a connection's record buffers (about
  // 34 KiB) whenever they are empty, so an idle keep-alive connection does
  // not hold them (bench/idle).
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
  // One ticket per handshake: a client resumes once per ticket (TLS 1.3).
  SSL_CTX_set_num_tickets(ctx, first.session_tickets || first.session_cache ? 1 : 0);
  SSL_CTX_set_session_cache_mode(ctx,
                                 first.session_cache ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF);
  SSL_CTX_sess_set_cache_size(ctx, 20480);
  SSL_CTX_set_timeout(ctx, static_cast<long>(first.session_timeout.count()));
  SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, nullptr);
  SSL_CTX_set_tlsext_status_cb(ctx, on_status_request);
  // The default listener's settings and first certificates are the context's.
  const impl::listener& d = m.listeners[default_listener];
  SSL_CTX_set_min_proto_version(ctx, d.min_version);
  SSL_CTX_set_max_proto_version(ctx, d.max_version);
  if (SSL_CTX_set_cipher_list(ctx, d.ciphers.c_str()) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, d.suites.c_str()) != 1 ||
      SSL_CTX_set1_groups_list(ctx, d.curves.c_str()) != 1 ||
      SSL_CTX_set1_sigalgs_list(ctx, d.sigalgs.c_str()) != 1)
    throw error(errc::invalid_config,
                fmt::format("listener {}: TLS settings: {}", d.name, openssl_error()));
  if (!d.tickets) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_id_context(ctx, d.sid_ctx.data(), static_cast<unsigned>(d.sid_ctx.size()));
  if (d.store) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (d.optional ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
                       on_verify);
    SSL_CTX_set1_verify_cert_store(ctx, d.store.get());
    SSL_CTX_set_client_CA_list(ctx, SSL_dup_CA_list(d.ca_names.get()));
  }
  for (std::size_t i : d.groups.front().certs)
    if (SSL_CTX_use_cert_and_key(ctx, m.certs[i].leaf, m.certs[i].key, m.certs[i].chain, 1) != 1)
      throw error(errc::invalid_config,
                  fmt::format("listener {}: certificate: {}", d.name, openssl_error()));
}

server_context::~server_context() = default;

const std::string& server_context::definition() const noexcept {
  return impl_->definition;
}
std::chrono::milliseconds server_context::handshake_timeout() const noexcept {
  return impl_->handshake_timeout;
}
std::size_t server_context::max_pending_handshakes() const noexcept {
  return impl_->max_pending;
}
const std::vector<std::string>& server_context::files() const noexcept {
  return impl_->files;
}
const std::vector<std::string>& server_context::warnings() const noexcept {
  return impl_->warnings;
}
const std::vector<certificate_expiry>& server_context::certificates() const noexcept {
  return impl_->expiry;
}
std::uint64_t server_context::validation_id(std::size_t listener) const noexcept {
  return listener < impl_->listeners.size() ? impl_->listeners[listener].validation : 0;
}

}  // namespace gateway::tls
