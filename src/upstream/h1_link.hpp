#pragma once
// The HTTP/1.1 upstream connector: a try owns one connection to itself
// (pooled between requests), writes the request as HTTP/1.1 text (the body
// chunked when its length is unknown) and reads the response's head and its
// body framed by length, chunks or the connection's close.
#include "http1/chunked_decoder.hpp"
#include "http1/serializer.hpp"
#include "server/byte_buffer.hpp"
#include "stream/byte_pipe.hpp"
#include "transport/watchdog.hpp"
#include "upstream/connection_pool.hpp"
#include "upstream/upstream_link.hpp"

namespace gateway {

class h1_link final : public upstream_link, public byte_pipe {
 public:
  // `watch` is the stream's deadline, armed for each write (it outlives the link).
  explicit h1_link(transport::watchdog& watch);
  // Arms `watch` from now on: the stream was taken by another connection.
  void bind(transport::watchdog& watch) noexcept { watch_ = &watch; }

  bool take_pooled(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
                   steady_clock::time_point now, bool replay) override;
  void attach(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
              std::unique_ptr<upstream_connection> conn) override;
  upstream_connection* connection() noexcept override { return conn_.get(); }
  // Capacity of its buffer (the response as it comes).
  std::size_t buffered() const noexcept { return in_.capacity(); }
  bool begin(const request& r) override;
  asio::awaitable<bool> send(std::span<const asio::const_buffer> pieces, std::uint64_t bytes,
                             bool end, std::span<const http::header> trailers) override;
  asio::awaitable<head_result> read_head(http1::response_head& into) override;
  bool responded() const noexcept override { return responded_; }
  std::string_view received() const noexcept override { return in_.view(); }
  bool head_over_limit() const noexcept override { return over_limit_; }
  void start_body(const http1::response_head& head, bool bodyless) override;
  body_step take(std::vector<asio::const_buffer>& out) override;
  asio::awaitable<bool> fill() override;
  void trailers(std::vector<http::header>& out) const override {
    if (framing_ == framing::chunked) chunks_.trailer_fields(out);
  }
  void finish(connection_pool& pool, bool keep) noexcept override;
  void interrupt() noexcept override;
  void close() noexcept override;

  // After a 101 answer to a forwarded Upgrade: the connection becomes the
  // upstream's side of a tunnel (and is never pooled again).
  byte_pipe& begin_tunnel(const http1::response_head& head) noexcept;
  // For a connection route (TCPRoute, TLSRoute): the attached connection
  // carries bytes from the start, each write bounded by `idle`.
  byte_pipe& begin_bytes(std::chrono::milliseconds idle) noexcept;
  std::string_view leftover() noexcept override { return in_.view(); }
  void drop_leftover() noexcept override { in_.clear(); }
  // One read from the connection (through TLS when it has it).
  asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into) override;
  asio::awaitable<bool> write(std::vector<asio::const_buffer>& gather) override;
  void shut() noexcept override { close(); }
  bool shut_write() noexcept override;

 private:
  enum class framing : std::uint8_t { none, length, chunked, until_close };
  asio::awaitable<bool> write_tls();
  // Takes the limits of the cluster the connection belongs to.
  void use_limits(const cluster_config& c) noexcept;

  transport::watchdog* watch_;
  std::unique_ptr<upstream_connection> conn_;
  byte_buffer in_;  // bytes from the upstream
  std::vector<asio::const_buffer> gather_;
  http1::chunk_framer framer_;  // the request body re-encoded when chunked
  http1::chunked_decoder chunks_;
  std::string_view head_;  // the request head, until the first send
  std::chrono::milliseconds idle_{};
  bool chunked_request_ = false;
  bool upgrade_ = false;  // the request forwarded an Upgrade
  bool responded_ = false;
  http1::head_scanner scanner_;
  // The cluster's response head limits and buffer limit (see use_limits).
  std::size_t max_head_ = 64 * 1024, max_fields_ = 100, read_ahead_ = 64 * 1024;
  bool over_limit_ = false;
  std::size_t head_used_ = 0;  // an interim head's bytes, consumed at the next read_head
  // The response body.
  framing framing_ = framing::none;
  std::uint64_t left_ = 0;  // framing::length
  std::size_t used_ = 0;    // bytes of in_ the last take() returned
  bool eof_ = false;        // framing::until_close: the close came
  bool ended_ = false;
  bool keep_alive_ = false;
};

}  // namespace gateway
