#pragma once
// TLS termination: what the listeners sharing one socket handshake with
// (certificates by SNI, versions, ciphers, client validation; built once per
// config) and a connection's TLS, done directly on its non-blocking socket.
// OpenSSL stays in server_tls.cpp.
#include <gateway/config.hpp>
#include <gateway/filter.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {
class block_pool;
}

namespace gateway::tls {

// One listener of a TLS socket group, as the context is built from it.
struct server_listener {
  std::string name;
  std::string hostname;  // "", "*.example.com" or exact
  const listener_tls_config* config = nullptr;
};

// A certificate a listener serves, for the expiry metric and the dashboard.
struct certificate_expiry {
  std::string listener;
  std::string name;            // its first DNS name (or CN); "(no name)" when it has none
  std::string key;             // its key's type ("RSA", "EC", "Ed25519"): names may repeat per type
  std::int64_t not_after = 0;  // the end of its validity, Unix seconds
};

// Everything the handshakes of one socket group need. Shared by the workers
// (OpenSSL's context is thread-safe once built) and kept by each connection
// for its life, so a reload may replace it while connections still use it.
class server_context {
 public:
  // `listeners` in the group's order; `default_listener` answers clients
  // whose SNI names none of them. Throws gateway::error (invalid_config)
  // naming the listener and what is wrong (an unreadable file, a key that
  // does not match, an unknown cipher).
  server_context(std::span<const server_listener> listeners, std::size_t default_listener);
  ~server_context();
  server_context(const server_context&) = delete;
  server_context& operator=(const server_context&) = delete;

  // Equal for contexts built from equal settings and certificate bytes: a
  // reload keeps the old context (its session cache and ticket keys) then.
  const std::string& definition() const noexcept;
  // The shortest handshake timeout of the listeners (the SNI comes later).
  std::chrono::milliseconds handshake_timeout() const noexcept;
  // How many handshakes one worker runs at once before refusing connections.
  std::size_t max_pending_handshakes() const noexcept;
  // Files the certificates were read from, to notice when they change.
  const std::vector<std::string>& files() const noexcept;
  // Things to tell the operator (a certificate that expired or is not valid yet).
  const std::vector<std::string>& warnings() const noexcept;
  // Every listener's certificates with the end of their validity.
  const std::vector<certificate_expiry>& certificates() const noexcept;
  // Identifies listener `i`'s client validation (0: none); equal for equal settings.
  std::uint64_t validation_id(std::size_t listener) const noexcept;

  struct impl;
  const impl& internals() const noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

// A connection's TLS over its socket (which the caller keeps and closes).
// Ciphertext is read with recv_some (asio/recv_buffer.hpp) and written with send
// from OpenSSL's buffer; every wait is the socket's, so cancelling the socket
// ends it.
class server_stream {
 public:
  // Over `socket`, with record buffers from `blocks` while it uses them (both
  // outlive it; the blocks must hold a whole record, 17 KiB).
  server_stream(std::shared_ptr<const server_context> context, tcp::socket& socket,
                block_pool& blocks);
  ~server_stream();
  server_stream(const server_stream&) = delete;
  server_stream& operator=(const server_stream&) = delete;

  asio::awaitable<boost::system::error_code> handshake();
  // Why the handshake failed, for a log line.
  std::string why(const boost::system::error_code& ec) const;
  // The listener (index into the context's) the client's SNI chose.
  std::size_t listener() const noexcept;
  // The connection's TLS facts (after the handshake).
  const tls_info& info() const noexcept;
  // This client's X-Forwarded-Client-Cert element with `details` (made once).
  std::string_view forwarded_element(const client_cert_forwarding& details);

  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into);
  // The plaintext that can be read now without reading the socket: 0 when
  // OpenSSL needs more ciphertext first (or the session failed).
  std::size_t read_now(asio::mutable_buffer into) noexcept;
  // Writes all of `data`; small pieces are gathered into full records.
  asio::awaitable<bool> write(std::span<const asio::const_buffer> data);
  // Sends close_notify if the socket takes it now (never waits).
  void close_notify() noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gateway::tls
