// TLS termination on OpenSSL, the connection half, without Asio's SSL
// stream: a small BIO of our own gives OpenSSL the ciphertext Asio read (one
// recv of up to a record) and sends its records straight to the socket, so
// no byte goes through memory BIOs and Asio's buffers on the way out. The
// contexts it runs on are server_tls.cpp's.
#include "tls/server_tls_internal.hpp"

#include <gateway/error.hpp>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "asio/recv_buffer.hpp"
#include "asio/socket_calls.hpp"
#include "router/host_name.hpp"
#include "server/byte_buffer.hpp"
#include "tls/digest.hpp"
#include "tls/openssl_util.hpp"

namespace gateway::tls {

using namespace detail;

namespace {

// --- the connection's BIO ----------------------------------------------------
// Ciphertext comes in through Asio (a read tries recv at once and only waits
// when there is nothing, with no epoll_ctl per wait) into `raw`, which the BIO
// hands to OpenSSL; it goes out with send(MSG_NOSIGNAL) straight from
// OpenSSL's record buffer, so a peer that left raises no SIGPIPE.
struct wire {
  int fd = -1;
  char* raw = nullptr;
  std::size_t at = 0, end = 0;  // unread ciphertext is raw[at, end)
  bool eof = false;
  recv_state reads;  // the socket's
};

int wire_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  auto* w = static_cast<wire*>(BIO_get_data(b));
  ssize_t n = socket_calls::send(w->fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n >= 0) {
    w->reads.wrote = true;
    return static_cast<int>(n);
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) BIO_set_retry_write(b);
  return -1;
}

int wire_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  auto* w = static_cast<wire*>(BIO_get_data(b));
  if (w->at == w->end) {
    if (w->eof) return 0;
    BIO_set_retry_read(b);  // the stream reads more, then OpenSSL asks again
    return -1;
  }
  const std::size_t n = std::min(static_cast<std::size_t>(len), w->end - w->at);
  std::memcpy(data, w->raw + w->at, n);
  w->at += n;
  return static_cast<int>(n);
}

long wire_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

const BIO_METHOD* wire_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gateway wire");
    BIO_meth_set_write(m, wire_write);
    BIO_meth_set_read(m, wire_read);
    BIO_meth_set_ctrl(m, wire_ctrl);
    return m;
  }();
  return method;
}

}  // namespace

// --- a connection ----------------------------------------------------------

struct server_stream::impl {
  impl(std::shared_ptr<const server_context> c, tcp::socket& s, block_pool& b)
      : context(std::move(c)), socket(s), blocks(b) {}
  ~impl() {
    if (raw) blocks.give(std::move(raw));
  }
  std::shared_ptr<const server_context> context;
  tcp::socket& socket;
  block_pool& blocks;
  SSL* ssl = nullptr;
  connection_state state;
  tls_info info;
  std::string sni, alpn, subject, issuer, serial, sha256, pem;
  std::vector<std::string> dns, uris;
  X509* peer = nullptr;
  std::string failure;  // why the handshake failed
  bool failed = false;  // a fatal error: no close_notify
  std::string element;  // the X-Forwarded-Client-Cert element
  int element_flags = -1;
  // Ciphertext read from the socket and not yet taken by OpenSSL: a block
  // from the pool with room for a whole record, so a request usually
  // arrives with one recv. It is held only while it has ciphertext: the read
  // that waits for a request goes into `first` (an idle connection holds no
  // block), as does the next one while a read did not fill it.
  std::unique_ptr<char[]> raw;
  char first[512];
  wire w;

  // Reads more ciphertext (after OpenSSL took all there was).
  asio::awaitable<boost::system::error_code> fill();
  // Gives the block back once OpenSSL took all the ciphertext in it.
  void release_raw() noexcept {
    if (!raw || w.at != w.end) return;
    blocks.give(std::move(raw));
    w.raw = nullptr;
  }
  // Waits out what SSL_get_error asked for; an error ends the operation.
  asio::awaitable<boost::system::error_code> wait(int code);

  void fill_info();
  // What SSL_get_error said, as an error code (and `failure` for a log line).
  boost::system::error_code fail(int code);
  asio::awaitable<bool> write_all(const char* p, std::size_t n);
};

server_stream::server_stream(std::shared_ptr<const server_context> context, tcp::socket& socket,
                             block_pool& blocks)
    : impl_(std::make_unique<impl>(std::move(context), socket, blocks)) {
  const auto& ctx = impl_->context->internals();
  impl_->state.ctx = &ctx;
  impl_->state.listener = ctx.default_listener;
  SSL* ssl = SSL_new(ctx.ctx);
  impl_->ssl = ssl;
  if (!ssl) return;  // handshake() reports it
  impl_->w.fd = socket.native_handle();
  BIO* bio = BIO_new(wire_method());
  BIO_set_data(bio, &impl_->w);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);
  SSL_set_app_data(ssl, &impl_->state);
  SSL_set_accept_state(ssl);
}

server_stream::~server_stream() {
  X509_free(impl_->peer);
  SSL_free(impl_->ssl);
}

boost::system::error_code server_stream::impl::fail(int code) {
  failed = true;
  const int saved = errno;
  if (code == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    failure = saved ? std::strerror(saved) : "connection closed by the client";
    return {saved ? saved : ECONNRESET, boost::system::system_category()};
  }
  if (code == SSL_ERROR_ZERO_RETURN) {
    failure = "connection closed by the client";
    return asio::error::eof;
  }
  const long verify = SSL_get_verify_result(ssl);
  failure = openssl_error();
  if (verify != X509_V_OK)
    failure =
        std::string("client certificate verify failed: ") + X509_verify_cert_error_string(verify);
  return {EPROTO, boost::system::system_category()};
}

asio::awaitable<boost::system::error_code> server_stream::impl::fill() {
  // OpenSSL took everything before it asked for more, so the buffer may change.
  const bool first_was_full = w.raw == first && w.end == sizeof first;
  if (!raw && first_was_full) raw = blocks.take();  // a large record: read it in one
  char* into = raw ? raw.get() : first;
  const std::size_t room = raw ? blocks.block_size() : sizeof first;
  auto [ec, n] = co_await recv_some(socket, asio::buffer(into, room), w.reads);
  w.raw = into;
  w.at = 0;
  w.end = n;
  if (ec == asio::error::eof) {
    w.eof = true;  // OpenSSL sees the end of the stream
    co_return boost::system::error_code();
  }
  co_return ec;
}

asio::awaitable<boost::system::error_code> server_stream::impl::wait(int code) {
  if (code == SSL_ERROR_WANT_READ) {
    if (w.eof) co_return asio::error::eof;
    co_return co_await fill();
  }
  auto [ec] = co_await socket.async_wait(tcp::socket::wait_write, use_tuple);
  co_return ec;
}

asio::awaitable<boost::system::error_code> server_stream::handshake() {
  impl& m = *impl_;
  if (!m.ssl) {
    m.failure = "cannot make a TLS connection: " + openssl_error();
    co_return boost::system::error_code(ENOMEM, boost::system::system_category());
  }
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(m.ssl);
    if (r == 1) {
      m.release_raw();
      break;
    }
    const int code = SSL_get_error(m.ssl, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      if (const auto ec = co_await m.wait(code)) {
        m.failed = true;
        co_return ec;
      }
      continue;
    }
    co_return m.fail(code);
  }
  m.fill_info();
  co_return boost::system::error_code();
}

void server_stream::impl::fill_info() {
  sni.assign(state.sni);
  info.server_name = sni;
  info.version = SSL_get_version(ssl);
  info.cipher = SSL_get_cipher_name(ssl);
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl, &proto, &len);
  alpn.assign(reinterpret_cast<const char*>(proto), len);
  info.alpn = alpn;
  info.resumed = SSL_session_reused(ssl) == 1;
  peer = SSL_get1_peer_certificate(ssl);
  if (!peer) return;
  info.peer_certificate = true;
  subject = name_text(X509_get_subject_name(peer));
  issuer = name_text(X509_get_issuer_name(peer));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr)) {
    if (char* h = BN_bn2hex(bn)) {
      serial = h;
      std::transform(serial.begin(), serial.end(), serial.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      OPENSSL_free(h);
    }
    BN_free(bn);
  }
  auto md = cert_sha256(peer);
  sha256 = hex(md.data(), md.size());
  pem = pem_of(peer);
  dns = alt_names(peer, GEN_DNS);
  uris = alt_names(peer, GEN_URI);
  info.subject = subject;
  info.issuer = issuer;
  info.serial = serial;
  info.sha256 = sha256;
  info.cert_pem = pem;
  info.dns_names = dns;
  info.uris = uris;
}

std::string server_stream::why(const boost::system::error_code& ec) const {
  return impl_->failure.empty() ? ec.message() : impl_->failure;
}

std::size_t server_stream::listener() const noexcept {
  return impl_->state.listener;
}

const tls_info& server_stream::info() const noexcept {
  return impl_->info;
}

namespace {
// RFC 3986 percent-encoding of everything but unreserved characters (XFCC's Cert and Chain).
void url_encode(std::string& out, std::string_view text) {
  static constexpr char digits[] = "0123456789ABCDEF";
  for (unsigned char ch : text) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(digits[ch >> 4]);
      out.push_back(digits[ch & 15]);
    }
  }
}

// A value in an XFCC element: quoted (with \" and \\ escaped) when it holds a
// separator.
void xfcc_value(std::string& out, std::string_view v, bool always_quote) {
  const bool quote = always_quote || v.find_first_of(",;=\"") != std::string_view::npos;
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char ch : v) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  out.push_back('"');
}
}  // namespace

std::string_view server_stream::forwarded_element(const client_cert_forwarding& d) {
  impl& m = *impl_;
  if (!m.peer) return {};
  const int flags = (d.subject ? 1 : 0) | (d.cert ? 2 : 0) | (d.chain ? 4 : 0) | (d.dns ? 8 : 0) |
                    (d.uri ? 16 : 0);
  if (flags == m.element_flags) return m.element;
  std::string& e = m.element;
  e.assign("Hash=").append(m.sha256);
  if (d.cert) {
    e.append(";Cert=\"");
    url_encode(e, m.pem);
    e.push_back('"');
  }
  if (d.chain) {
    e.append(";Chain=\"");
    std::string all = m.pem;
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(m.ssl))
      for (int i = 0; i < sk_X509_num(chain); ++i) {
        X509* c = sk_X509_value(chain, i);
        if (X509_cmp(c, m.peer) != 0) all += pem_of(c);
      }
    url_encode(e, all);
    e.push_back('"');
  }
  if (d.subject) {
    e.append(";Subject=");
    xfcc_value(e, m.subject, true);
  }
  if (d.uri)
    for (const auto& u : m.uris) {
      e.append(";URI=");
      xfcc_value(e, u, false);
    }
  if (d.dns)
    for (const auto& n : m.dns) {
      e.append(";DNS=");
      xfcc_value(e, n, false);
    }
  m.element_flags = flags;
  return e;
}

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> server_stream::read_some(
    asio::mutable_buffer into) {
  impl& m = *impl_;
  for (;;) {
    std::size_t got = 0;
    ERR_clear_error();
    const int r = SSL_read_ex(m.ssl, into.data(), into.size(), &got);
    if (r == 1) {
      m.release_raw();
      co_return std::tuple(boost::system::error_code(), got);
    }
    const int code = SSL_get_error(m.ssl, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      if (const auto ec = co_await m.wait(code)) co_return std::tuple(ec, std::size_t{0});
      continue;
    }
    if (code == SSL_ERROR_ZERO_RETURN) co_return std::tuple(asio::error::eof, std::size_t{0});
    co_return std::tuple(m.fail(code), std::size_t{0});
  }
}

std::size_t server_stream::read_now(asio::mutable_buffer into) noexcept {
  impl& m = *impl_;
  std::size_t got = 0;
  ERR_clear_error();
  if (SSL_read_ex(m.ssl, into.data(), into.size(), &got) != 1) {
    ERR_clear_error();  // WANT_READ, or an error the next read_some reports
    return 0;
  }
  m.release_raw();
  return got;
}

asio::awaitable<bool> server_stream::impl::write_all(const char* p, std::size_t n) {
  while (n > 0) {
    std::size_t written = 0;
    ERR_clear_error();
    const int r = SSL_write_ex(ssl, p, n, &written);
    if (r == 1) {
      p += written;
      n -= written;
      continue;
    }
    const int code = SSL_get_error(ssl, r);
    if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE) {
      fail(code);
      co_return false;
    }
    if (co_await wait(code)) co_return false;
  }
  co_return true;
}

asio::awaitable<bool> server_stream::write(std::span<const asio::const_buffer> data) {
  // Pieces are gathered up to a record's worth, in a block held for this
  // write only, so a head and the start of a body leave in one record;
  // bigger pieces go as they are. A lone piece needs no gathering.
  impl& m = *impl_;
  if (data.size() == 1)
    co_return co_await m.write_all(static_cast<const char*>(data[0].data()), data[0].size());
  struct held {
    block_pool& pool;
    std::unique_ptr<char[]> block;
    ~held() { pool.give(std::move(block)); }
  } out{m.blocks, m.blocks.take()};
  const std::size_t limit = m.blocks.block_size();
  std::size_t used = 0;
  for (const auto& b : data) {
    const char* p = static_cast<const char*>(b.data());
    if (b.size() == 0) continue;
    if (used + b.size() <= limit) {
      std::memcpy(out.block.get() + used, p, b.size());
      used += b.size();
      continue;
    }
    if (used) {
      if (!co_await m.write_all(out.block.get(), used)) co_return false;
      used = 0;
    }
    if (b.size() <= limit) {
      std::memcpy(out.block.get(), p, b.size());
      used = b.size();
    } else if (!co_await m.write_all(p, b.size())) {
      co_return false;
    }
  }
  if (used && !co_await m.write_all(out.block.get(), used)) co_return false;
  co_return true;
}

void server_stream::close_notify() noexcept {
  impl& m = *impl_;
  if (!m.ssl || m.failed || !SSL_is_init_finished(m.ssl) ||
      (SSL_get_shutdown(m.ssl) & SSL_SENT_SHUTDOWN))
    return;
  ERR_clear_error();
  SSL_shutdown(m.ssl);  // one try: whatever the socket takes now
  ERR_clear_error();
}

}  // namespace gateway::tls
