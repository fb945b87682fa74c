#pragma once
// One HTTP/1.1 client connection: a coroutine that reads request heads and
// hands each to its stream (one at a time), plus a watchdog coroutine that
// enforces the current phase's deadline. Its buffers and its stream are
// reused from request to request.
#include <memory>
#include <string>
#include <vector>

#include "asio/asio.hpp"
#include "http1/chunked_decoder.hpp"
#include "http1/http1_parser.hpp"
#include "http1/serializer.hpp"
#include "server/byte_buffer.hpp"
#include "server/snapshot.hpp"
#include "server/worker.hpp"
#include "stream/byte_pipe.hpp"
#include "stream/downstream.hpp"
#include "stream/stream.hpp"
#include "transport/client_stream.hpp"
#include "transport/watchdog.hpp"

namespace gateway {

class worker;
class h2_session;

class connection final : public downstream,
                         public byte_pipe,
                         public worker_session,
                         public std::enable_shared_from_this<connection> {
 public:
  // `group_open` counts the connections of its socket group (released when it is gone).
  connection(worker& owner, tcp::socket socket, std::uint32_t group,
             std::shared_ptr<std::atomic<std::size_t>> group_open);
  ~connection();

  asio::awaitable<void> run();
  // Enforces watch_'s deadlines from now until close(); it holds the
  // connection alive until then, as run() does.
  void start_watchdog();
  // Closes the connection if it is waiting for a request (drain) or at once (force).
  void interrupt(bool force) noexcept override;
  void count_buffers(buffer_bytes& into) const noexcept override;
  std::uint32_t group() const noexcept override { return group_; }

 private:
  friend class h2_session;  // an HTTP/2 connection runs over this one's transport

  // downstream
  std::pair<std::string_view, std::uint16_t> local_address() noexcept override;
  std::weak_ptr<void> owner() noexcept override { return weak_from_this(); }
  void release_head() noexcept override;
  body_view peek_body(std::vector<asio::const_buffer>& out) override;
  void release_body() noexcept override;
  asio::awaitable<body_read> read_body(std::size_t room) override;
  void start_response(const response_start& r) override;
  void send_body(std::span<const asio::const_buffer> pieces, std::uint64_t bytes) override;
  asio::awaitable<bool> send(bool end, std::span<const http::header> trailers) override;
  asio::awaitable<bool> send_interim(int status, std::string_view reason,
                                     std::span<const http::header> fields) override;
  asio::awaitable<bool> send_local(const local_answer& a) override;
  void drop() noexcept override;
  void end_after_response() noexcept override { keep_alive_ = false; }
  byte_pipe* pipe() noexcept override { return this; }

  // byte_pipe: the client's side of a tunnel, after the 101 went out.
  std::string_view leftover() noexcept override { return in_.view(); }
  void drop_leftover() noexcept override { in_.clear(); }
  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into) override {
    return client_.read_some(into);
  }
  asio::awaitable<bool> write(std::vector<asio::const_buffer>& gather) override;
  void shut() noexcept override {
    closed = true;
    client_.cancel();
  }
  bool shut_write() noexcept override { return client_.shut_write(); }

  // Takes the worker's current snapshot for the next request; false (and the
  // old snapshot kept) when the connection's socket group is not in it any
  // more: a reload removed its listeners, so it closes after what was sent.
  bool refresh_snapshot();
  // The deadline watch_ was armed with passed: what waits is cancelled.
  void deadline_passed();
  // On an HTTPS listener, the TLS handshake (with its timeout); false when
  // it failed and the connection closes. Plain listeners: true at once.
  asio::awaitable<bool> start_tls();
  // What a connection does before its first HTTP/1.1 request: TLS, and the
  // whole of a TCP/TLS route's or an HTTP/2 connection; true when HTTP/1.1
  // requests follow.
  asio::awaitable<bool> open_connection();
  // After an answer that closes with client input unread (see client_stream::linger).
  asio::awaitable<void> linger_out();
  asio::awaitable<bool> read_request_head();
  // A TCP or TLS listener's connection: its server name (read from the
  // ClientHello when TLS passes through), then its route carries it whole.
  asio::awaitable<void> carry_connection();
  // Whether the client speaks HTTP/2: ALPN h2, or (plain listeners) the
  // connection preface at the start of what it sends.
  asio::awaitable<bool> speaks_h2();
  // The request's framing and keep-alive facts, from its parsed head.
  void begin_message(const http1::request_head& head) noexcept;
  // Writes and then clears gather_ to the client, counting the bytes for
  // the current request.
  asio::awaitable<bool> flush();
  // Counts a head refused at a limit (414, 431, 408) by the limit.
  void count_refusal(int status) noexcept;
  // The stream of the request whose bytes are arriving: taken from the
  // worker's pool on first use, and given back by end_request once the
  // request is recorded.
  stream& request_stream();
  void end_request() noexcept;
  // Where the next read of client input goes, in_ holding `limit` bytes at
  // most (empty: it is full). While in_ has no room the read goes to first_
  // instead, so a connection waiting for its next request holds no block;
  // input_read(n) then moves those bytes into one. Between the two, nothing
  // else may touch in_.
  asio::mutable_buffer input_space(std::size_t limit);
  // Returns the bytes now added to in_: n, and what could be read at once
  // after a first read that filled first_.
  std::size_t input_read(std::size_t n);
  // Gives in_ a block from the worker's pool when it has none; and gives
  // it back when it holds no bytes (end_request), so an idle connection
  // keeps none. A block grown past the pool's size is freed instead.
  void hold_input();
  void release_input() noexcept;
  void close() noexcept;

  worker& worker_;
  transport::client_stream client_;
  transport::watchdog watch_;  // the deadline of what the connection waits on now
  std::uint32_t group_;
  std::shared_ptr<std::atomic<std::size_t>> group_open_;
  std::shared_ptr<const snapshot> snapshot_;  // what the current request is served from
  bool group_gone_ = false;

  byte_buffer in_;  // bytes from the client (no room while the connection is idle)
  // The first read of a request's bytes, while in_ has no room: a head that
  // fits (most requests without large cookies or tokens) arrives with one
  // recv; a longer one takes one more, from the block.
  char first_[256];
  bool reading_first_ = false;
  http1::head_scanner scanner_;
  std::vector<asio::const_buffer> gather_;  // what goes to the client next
  // Body pieces queued since the last send(), framed there as one chunk (the
  // framer's size line serves one chunk per write).
  std::vector<asio::const_buffer> chunk_pieces_;
  std::uint64_t chunk_bytes_ = 0;

  // The current request's HTTP/1.1 facts.
  bool keep_alive_ = false;
  int version_minor_ = 1;
  std::size_t head_size_ = 0;
  std::uint64_t unrecorded_in_ = 0;  // bytes read before the request had a stream
  bool expect_continue_ = false;
  bool sent_continue_ = false;
  bool body_chunked_ = false;
  std::uint64_t body_left_ = 0;         // of a Content-Length body
  std::size_t peeked_ = 0;              // input bytes the last peek_body covered
  http1::chunked_decoder chunks_;       // a chunked body's decoder, up to the last release
  http1::chunked_decoder peek_chunks_;  // ... and up to the last peek
  std::vector<http::header> trailers_;  // a chunked body's trailer fields
  bool chunked_out_ = false;            // the response body goes chunked
  http1::chunk_framer framer_;          // its chunk framing

  std::string server_name_;  // a passed-through ClientHello's SNI
  char client_ip_[48];
  char local_ip_[48];
  std::size_t local_ip_len_ = 0;
  std::uint16_t local_port_ = 0;

  bool linger_ = false;        // closing after an answer that may have left client input unread
  stream_pool::lease stream_;  // the request being served (one at a time on HTTP/1.1)
  std::unique_ptr<h2_session> h2_;  // set when the connection speaks HTTP/2
};

}  // namespace gateway
