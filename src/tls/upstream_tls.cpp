// Asio's SSL stream over an upstream socket, and the OpenSSL context behind
// it. The only file that instantiates Asio's SSL templates.
#include "tls/upstream_tls.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>

#include "tls/openssl_util.hpp"

namespace gateway::tls {

namespace {
namespace ssl = boost::asio::ssl;
}  // namespace

struct context_holder {
  ssl::context ctx{ssl::context::tls_client};
};

client_context::client_context(const upstream_tls_config& config) : config_(config) {
  auto holder = std::make_unique<context_holder>();
  SSL_CTX* ctx = holder->ctx.native_handle();
  ERR_clear_error();
  if (config.min_version != "1.2" && config.min_version != "1.3")
    throw error(errc::invalid_config,
                fmt::format("TLS minimum version '{}' (use 1.2 or 1.3)", config.min_version));
  SSL_CTX_set_min_proto_version(ctx, config.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Sessions are kept by the pools (per worker and endpoint), not in a cache here.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (!config.insecure_skip_verify && config.ca_pem.empty() && !config.system_ca)
    throw error(errc::invalid_config,
                "TLS to an upstream needs CA certificates to verify it (or the system store, "
                "or verification switched off)");
  if (!config.ca_pem.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    std::vector<X509*> certs = read_certificates(config.ca_pem);
    for (X509* cert : certs) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
    }
    if (certs.empty()) throw error(errc::invalid_config, "TLS CA bundle holds no PEM certificate");
  }
  if (config.system_ca && SSL_CTX_set_default_verify_paths(ctx) != 1)
    throw error(errc::invalid_config,
                fmt::format("cannot load the system CA store: {}", openssl_error()));
  SSL_CTX_set_verify(ctx, config.insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  if (config.client_cert_pem.empty() != config.client_key_pem.empty())
    throw error(errc::invalid_config,
                "a TLS client certificate needs its key, and a key its certificate");
  if (!config.client_cert_pem.empty()) {
    bio_ptr certs(config.client_cert_pem);
    X509* leaf = PEM_read_bio_X509(certs.b, nullptr, nullptr, nullptr);
    if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
      if (leaf) X509_free(leaf);
      throw error(errc::invalid_config, fmt::format("TLS client certificate: {}", openssl_error()));
    }
    X509_free(leaf);
    while (X509* extra = PEM_read_bio_X509(certs.b, nullptr, nullptr, nullptr))
      SSL_CTX_add_extra_chain_cert(ctx, extra);  // takes ownership
    ERR_clear_error();
    bio_ptr key_bio(config.client_key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.b, nullptr, nullptr, nullptr);
    if (key && X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) != 1) {
      EVP_PKEY_free(key);
      ERR_clear_error();
      throw error(errc::invalid_config, "TLS client key does not match its certificate");
    }
    if (!key || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
      if (key) EVP_PKEY_free(key);
      throw error(errc::invalid_config, fmt::format("TLS client key: {}", openssl_error()));
    }
    EVP_PKEY_free(key);
    if (SSL_CTX_check_private_key(ctx) != 1)
      throw error(errc::invalid_config, "TLS client key does not match its certificate");
  }
  if (!config.alpn.empty()) {
    std::string wire;
    for (const auto& p : config.alpn) {
      if (p.empty() || p.size() > 255)
        throw error(errc::invalid_config, fmt::format("TLS ALPN name '{}'", p));
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  ctx_ = holder.release();
}

client_context::~client_context() {
  delete static_cast<context_holder*>(ctx_);
}

session::~session() {
  reset(nullptr);
}

session& session::operator=(session&& other) noexcept {
  if (this != &other) {
    reset(other.s_);
    other.s_ = nullptr;
  }
  return *this;
}

void session::reset(void* s) noexcept {
  if (s_) SSL_SESSION_free(static_cast<SSL_SESSION*>(s_));
  s_ = s;
}

struct stream::impl {
  impl(ssl::context& ctx, tcp::socket& socket) : s(socket, ctx) {}
  ssl::stream<tcp::socket&> s;
  std::string out;  // gathered plaintext for one write
};

stream::stream(const client_context& ctx, tcp::socket& socket, const std::string& server_name,
               const asio::ip::address& address)
    : impl_(std::make_unique<impl>(static_cast<context_holder*>(ctx.handle())->ctx, socket)) {
  SSL* ssl = impl_->s.native_handle();
  const upstream_tls_config& c = ctx.config();
  const std::string sni = !c.sni.empty() ? c.sni : server_name;
  boost::system::error_code ec;
  asio::ip::make_address(sni, ec);
  if (!sni.empty() && ec) SSL_set_tlsext_host_name(ssl, sni.c_str());  // never an IP (RFC 6066)
  if (c.insecure_skip_verify) return;
  const std::string expected = !c.verify_hostname.empty() ? c.verify_hostname : sni;
  if (!expected.empty()) {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, expected.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address.to_string().c_str());
  }
  for (const auto& alt : c.subject_alt_names)
    SSL_add1_host(ssl, alt.c_str());
}

stream::~stream() {
  // Connections close without close_notify (the socket just closes); OpenSSL
  // would take that for a broken connection and make its session
  // unresumable, though the pool still offers it to the next connection.
  SSL_set_shutdown(impl_->s.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
}

void stream::offer(const session& resume) {
  if (resume.native())
    SSL_set_session(impl_->s.native_handle(), static_cast<SSL_SESSION*>(resume.native()));
}

asio::awaitable<boost::system::error_code> stream::handshake() {
  auto [ec] = co_await impl_->s.async_handshake(ssl::stream_base::client, use_tuple);
  co_return ec;
}

std::string stream::why(const boost::system::error_code& ec) const {
  SSL* ssl = impl_->s.native_handle();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK)
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  return ec.message();
}

std::string_view stream::alpn() const noexcept {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(impl_->s.native_handle(), &p, &n);
  return p ? std::string_view(reinterpret_cast<const char*>(p), n) : std::string_view();
}

session stream::take_session() const {
  session s;
  SSL_SESSION* got = SSL_get1_session(impl_->s.native_handle());
  if (got && SSL_SESSION_is_resumable(got))
    s.reset(got);
  else if (got)
    SSL_SESSION_free(got);
  return s;
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> stream::read_some(
    asio::mutable_buffer into) {
  co_return co_await impl_->s.async_read_some(into, use_tuple);
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> stream::write(
    std::span<const asio::const_buffer> data) {
  // One plaintext buffer, so OpenSSL makes full records instead of one per piece.
  std::string& out = impl_->out;
  out.clear();
  for (const auto& b : data)
    out.append(static_cast<const char*>(b.data()), b.size());
  co_return co_await asio::async_write(impl_->s, asio::buffer(out), use_tuple);
}

}  // namespace gateway::tls
