#pragma once
// The downstream byte stream of one connection: the accepted TCP socket, with
// TLS over it on HTTPS listeners. Reads, gathered writes, the handshake and
// the ways a connection ends (close, reset, linger). It knows nothing of HTTP.
#include <memory>
#include <span>
#include <tuple>
#include <vector>

#include "asio/asio.hpp"
#include "asio/recv_buffer.hpp"
#include "server/byte_buffer.hpp"
#include "tls/server_tls.hpp"
#include "transport/watchdog.hpp"

namespace gateway::transport {

// Writes all of `gather` to `socket` and clears it. The socket is non-blocking:
// what the kernel takes now is written at once (for most messages all of it,
// which saves a reactor round trip), and only the rest waits through the
// reactor, with `watch` armed for `idle` in `phase`. Adds the bytes written to
// `*written` (when given); false when the peer is gone or the write timed out.
// Tells `reads` (the socket's) that it was written to.
asio::awaitable<bool> write_gather(tcp::socket& socket, recv_state& reads,
                                   std::vector<asio::const_buffer>& gather, watchdog& watch,
                                   std::chrono::milliseconds idle, std::uint64_t* written,
                                   deadline_phase phase);

class client_stream {
 public:
  // Takes the accepted socket (put in non-blocking mode for write_gather).
  explicit client_stream(tcp::socket socket);
  ~client_stream();
  client_stream(const client_stream&) = delete;
  client_stream& operator=(const client_stream&) = delete;

  asio::any_io_executor executor() { return socket_.get_executor(); }
  // The client's address (unspecified when the socket has none any more).
  tcp::endpoint remote(boost::system::error_code& ec) const { return socket_.remote_endpoint(ec); }
  // The gateway's end of the connection.
  tcp::endpoint local(boost::system::error_code& ec) const { return socket_.local_endpoint(ec); }

  // Starts TLS over the socket with `context` (the handshake, which the
  // caller's watchdog bounds); the error is the handshake's. After it,
  // tls() is the session whatever the result, for why() and info(). The
  // session takes its record buffers from `blocks` (the worker's; it
  // outlives the stream) only while it uses them.
  asio::awaitable<boost::system::error_code> handshake(
      std::shared_ptr<const tls::server_context> context, block_pool& blocks);
  // The TLS session, null on plain listeners.
  tls::server_stream* tls() const noexcept { return tls_.get(); }

  // One read (through TLS when there is some). Not a coroutine: a plain read
  // costs no extra frame.
  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into) {
    if (tls_) return tls_->read_some(into);
    return recv_some(socket_, into, reads_);
  }
  // What can be read now without waiting (through TLS when there is some):
  // the bytes read, 0 when none are there yet (or the peer is gone: the next
  // read_some tells).
  std::size_t read_now(asio::mutable_buffer into) noexcept;
  // Writes all of `gather` (through TLS when there is some) and clears it; a
  // wait is bounded by `watch` armed for `idle`. Adds what was written to
  // `written`; false when the peer is gone or the write timed out. Not a
  // coroutine itself: a plain write costs one frame, write_gather's.
  asio::awaitable<bool> write(std::vector<asio::const_buffer>& gather, watchdog& watch,
                              std::chrono::milliseconds idle, std::uint64_t& written) {
    if (tls_) return write_tls(gather, watch, idle, written);
    return write_gather(socket_, reads_, gather, watch, idle, &written, deadline_phase::send);
  }

  // Makes the pending read or write end with operation_aborted.
  void cancel() noexcept;
  // Sends a FIN and keeps reading; false on TLS (a close_notify ends the
  // session for OpenSSL's reads too), and then nothing was done.
  bool shut_write() noexcept;
  // Ends the connection: close_notify (unless `abrupt`), FIN, close.
  void close(bool abrupt) noexcept;
  // Ends the connection with a reset instead of a FIN (nothing more is sent).
  void reset() noexcept;
  // Stops sending (close_notify, FIN) and reads and drops what the client
  // still sends, up to 1 MiB or 2 s on `watch`, using `scratch`. Closing with
  // unread input makes the kernel send a reset, which can destroy an answer
  // the client has not read yet (a 413 to a large upload, say).
  asio::awaitable<void> linger(watchdog& watch, asio::mutable_buffer scratch);

 private:
  asio::awaitable<bool> write_tls(std::vector<asio::const_buffer>& gather, watchdog& watch,
                                  std::chrono::milliseconds idle, std::uint64_t& written);

  tcp::socket socket_;
  recv_state reads_;                         // socket_'s, when plain
  std::unique_ptr<tls::server_stream> tls_;  // over socket_, destroyed first
};

}  // namespace gateway::transport
