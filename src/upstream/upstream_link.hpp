#pragma once
// One try of a request on an upstream connection, whatever the protocol the
// connection speaks: the pipeline's upstream leg (src/pipeline) takes a
// connection through it, sends the request, reads the response head and
// relays the body, and never sees the protocol's framing. HTTP/1.1
// (h1_link: one exclusive connection per try) and HTTP/2 (h2_link: a stream
// on a connection shared by the worker's requests) implement it. A link is
// owned by the stream that uses it and reused from try to try.
#include <gateway/http.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "asio/asio.hpp"
#include "http1/http1_parser.hpp"

namespace gateway {

class connection_pool;
struct snapshot;
struct endpoint_state;
struct upstream_connection;

class upstream_link {
 public:
  // The request of a try on the neutral model, with the same request as
  // HTTP/1.1 text (built once by the pipeline; the HTTP/1.1 link sends it).
  struct request {
    std::string_view method;
    std::string_view target;
    std::span<const http::header> fields;  // end-to-end fields, Host among them
    std::string_view http1_head;           // the whole head, blank line included
    bool has_body = false;
    bool chunked = false;              // the body's length is unknown (HTTP/1.1: chunked)
    std::uint64_t length = 0;          // the body's length otherwise
    bool te_trailers = false;          // the client takes trailers (`te: trailers`)
    bool upgrade = false;              // an Upgrade was forwarded: a 101 may answer it
    std::chrono::milliseconds idle{};  // the longest a write or a body read may wait
  };

  // How reading the response head ended.
  enum class head_result : std::uint8_t {
    final,    // a final (2xx-5xx) head is in the response
    interim,  // a 1xx head is in the response; call read_head again for the next
    failed,   // the connection or stream failed (or the wait was interrupted)
    invalid,  // what came is not a usable response head
  };

  // What take() found of the response body.
  struct body_step {
    std::uint64_t bytes = 0;  // data bytes in the pieces appended
    bool end = false;         // they end the body (trailers() has its trailers)
    bool error = false;       // the body cannot end: broken framing, or a reset stream
  };

  // --- the connection of the try

  // Takes a pooled connection to host `h` of cluster `c` of `s` that can
  // carry this try now; false when there is none. `replay`: the request is
  // sent again after its connection failed under it.
  virtual bool take_pooled(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
                           steady_clock::time_point now, bool replay) = 0;
  // Whether a connection this try could share is being opened to `ep`: the
  // try waits for it rather than opening one more.
  virtual bool wait_for_opening(const connection_pool&, const endpoint_state&) const {
    return false;
  }
  // A new connection to `ep` is being opened for this try (`started`), or
  // that ended (either way).
  virtual void opening(connection_pool&, const endpoint_state&, bool /*started*/) noexcept {}
  // Makes `conn` (connected, handshake done, for host `h` of cluster `c`)
  // this try's connection; the link owns it (or hands it to the pool to share).
  virtual void attach(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
                      std::unique_ptr<upstream_connection> conn) = 0;
  // The transport under the try (its endpoint, TLS session, requests sent), or null.
  virtual upstream_connection* connection() noexcept = 0;

  // --- the request

  // Starts the request; false when the connection took no new request (the
  // upstream saw nothing of it: refused()).
  virtual bool begin(const request& r) = 0;
  // Sends body data (views that may go once it returns) and, with `end`,
  // the body's end with `trailers`; false when the connection failed.
  virtual asio::awaitable<bool> send(std::span<const asio::const_buffer> pieces,
                                     std::uint64_t bytes, bool end,
                                     std::span<const http::header> trailers) = 0;

  // --- the response

  // Waits for the next response head into `into` (its views live until
  // start_body's body is taken).
  virtual asio::awaitable<head_result> read_head(http1::response_head& into) = 0;
  // Whether anything of a response came on this try (then it was processed).
  virtual bool responded() const noexcept = 0;
  // What was received when read_head said `invalid` (for the log), if the
  // protocol keeps it.
  virtual std::string_view received() const noexcept { return {}; }
  // Whether read_head's `invalid` was a head over the cluster's limits (its
  // size or field count) rather than a malformed one.
  virtual bool head_over_limit() const noexcept { return false; }
  // Readies the body of the final head `head` just read; `bodyless`: the
  // request or the status allows none (HEAD, 204, 304).
  virtual void start_body(const http1::response_head& head, bool bodyless) = 0;
  // Appends to `out` the body data that has arrived, without waiting. The
  // pieces stay valid until the next take() or fill(); the ones before are
  // used then (their room goes back to the upstream).
  virtual body_step take(std::vector<asio::const_buffer>& out) = 0;
  // Waits for more of the body; false when the connection or stream failed
  // or the wait was interrupted (the body is cut short).
  virtual asio::awaitable<bool> fill() = 0;
  // Appends the body's trailers, once take() said `end`.
  virtual void trailers(std::vector<http::header>& out) const = 0;

  // --- the end of the try

  // Ends the try: with `keep` and a response read to its end that left the
  // connection usable, the connection stays for other requests (pooled or
  // shared); otherwise it closes (an HTTP/2 stream still open is reset).
  virtual void finish(connection_pool& pool, bool keep) noexcept = 0;
  // Wakes what the try waits on, so it sees the deadline or the client's
  // close; the waits of this try fail from now on.
  virtual void interrupt() noexcept = 0;
  // Closes the try's connection (HTTP/2: resets its stream) now, while the
  // try may still be waiting on it; the try then fails and ends with finish().
  virtual void close() noexcept = 0;
  // Whether the upstream refused the request unprocessed (it may go again
  // on another connection whatever its method).
  virtual bool refused() const noexcept { return false; }
  // The protocol's error code the upstream ended the request with (0: none).
  virtual std::uint32_t reset_code() const noexcept { return 0; }
  // After the try timed out waiting since `sent_at`: whether the connection
  // said nothing at all since, and was retired for it (no new request goes
  // on it).
  virtual bool retire_if_silent(steady_clock::time_point /*sent_at*/) noexcept { return false; }

 protected:
  ~upstream_link() = default;
};

}  // namespace gateway
