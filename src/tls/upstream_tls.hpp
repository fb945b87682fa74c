#pragma once
// TLS to upstreams: a client context per cluster (trust, client certificate,
// versions, built once per config) and a stream over a connected upstream
// socket. OpenSSL and Asio's SSL templates stay in upstream_tls.cpp.
#include <gateway/upstream.hpp>

#include <memory>
#include <span>
#include <string>
#include <tuple>

#include "asio/asio.hpp"

namespace gateway::tls {

// What a cluster's connections share. Thread-safe once built.
class client_context {
 public:
  // Throws gateway::error (invalid_config) naming what is wrong (an unreadable
  // CA bundle, a key that does not match its certificate, a bad version).
  explicit client_context(const upstream_tls_config& config);
  ~client_context();
  client_context(const client_context&) = delete;
  client_context& operator=(const client_context&) = delete;
  const upstream_tls_config& config() const noexcept { return config_; }
  void* handle() const noexcept { return ctx_; }  // opaque, for `stream`

 private:
  upstream_tls_config config_;
  void* ctx_ = nullptr;
};

// A TLS session kept for resumption (an SSL_SESSION reference); empty: none.
class session {
 public:
  session() = default;
  ~session();
  session(session&& other) noexcept : s_(other.s_) { other.s_ = nullptr; }
  session& operator=(session&& other) noexcept;
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  void* native() const noexcept { return s_; }
  void reset(void* s) noexcept;  // takes a reference the caller owns

 private:
  void* s_ = nullptr;
};

// TLS over an upstream socket the caller keeps (and closes).
class stream {
 public:
  // `server_name` goes out as SNI (unless empty or an IP) and is what the
  // certificate must name; `address` is checked instead when both it and the
  // configured names are empty.
  stream(const client_context& ctx, tcp::socket& socket, const std::string& server_name,
         const asio::ip::address& address);
  ~stream();
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  // Offers `resume` (from an earlier connection to the same endpoint).
  void offer(const session& resume);
  // The handshake; on failure why() says what went wrong (verification included).
  asio::awaitable<boost::system::error_code> handshake();
  std::string why(const boost::system::error_code& ec) const;
  // The session to offer the next connection to this endpoint.
  session take_session() const;
  // The protocol the peer chose by ALPN ("" when none), after the handshake.
  std::string_view alpn() const noexcept;

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into);
  // Writes all of `data` (gathered into TLS records of up to 16 KiB).
  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(
      std::span<const asio::const_buffer> data);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gateway::tls
