#pragma once
// One HTTP/2 connection to an upstream endpoint, shared by the requests of one
// worker: each request is a stream on it (an h2_call), up to what the peer's
// SETTINGS allow. One reader (socket to codec) and one writer (codec to
// socket) run while it is open; the requests wait on their calls. Owned by the
// worker's connection_pool and by the calls under way (shared), never by two
// threads.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "asio/asio.hpp"
#include "http2/client_codec.hpp"
#include "stream/owned_fields.hpp"
#include "upstream/connection_pool.hpp"

namespace gateway {

class h2_connection;

// One request on an h2_connection, owned by the stream that makes it and
// reused from try to try. The stream fills the request side and waits on
// `wake`; the connection fills the response side and wakes it.
struct h2_call {
  explicit h2_call(asio::any_io_executor ex) : wake(std::move(ex)) {}
  // Forgets the last try (its connection must have let it go: release()).
  void reset() noexcept;
  // Whether anything of a response came (then the request was processed).
  bool answered() const noexcept { return status != 0 || interim_status != 0; }

  std::shared_ptr<h2_connection> conn;  // while the call is on one
  std::int32_t id = 0;
  // Request body bytes the codec has not taken yet (from out_at), its end and trailers.
  std::string out;
  std::size_t out_at = 0;
  bool out_end = false;
  owned_fields out_trailers_owned;
  std::vector<http::header> out_trailers;  // views of out_trailers_owned
  // An interim head (1xx) not yet forwarded; the final head; body; trailers.
  int interim_status = 0;
  owned_fields interim;
  int status = 0;
  owned_fields head;
  std::string in;  // response body received and not used yet
  bool in_end = false;
  owned_fields trailers;
  // The stream is over (`error`: its RST_STREAM code, or INTERNAL_ERROR when
  // the connection broke); `refused`: the upstream did not process it
  // (REFUSED_STREAM, or past a GOAWAY's last stream), so it may go again.
  bool closed = false;
  std::uint32_t error = 0;
  bool refused = false;
  asio::steady_timer wake;  // woken on every change above

  // The block of fields being received.
  owned_fields block;
  int block_status = 0;
  std::size_t block_bytes = 0;
  std::size_t block_fields = 0;
  bool over_limit = false;  // a head or trailers past the cluster's limits reset the stream
};

class h2_connection final : public std::enable_shared_from_this<h2_connection>,
                            http2::client_events {
 public:
  // Takes `conn` (connected, TLS done); `scheme` is :scheme ("http", "https");
  // `max_requests` retires it after that many streams (0: no limit); a
  // response head or trailers over `max_head` bytes (each field's name and
  // value and 4, as in HTTP/1.1) or `max_fields` fields resets its stream.
  h2_connection(std::unique_ptr<upstream_connection> conn, std::string_view scheme,
                std::uint32_t max_requests, std::size_t max_head = 64 * 1024,
                std::size_t max_fields = 100);
  ~h2_connection();
  h2_connection(const h2_connection&) = delete;
  h2_connection& operator=(const h2_connection&) = delete;

  // Starts the reader and the writer.
  void start();
  // Whether a new stream may start on it now (open, no GOAWAY, under the
  // peer's stream limit and its own request limit).
  bool has_room() const noexcept;
  // Whether it is finished with (closed, or retiring with no stream left).
  bool done() const noexcept { return dead_; }
  // Streams under way.
  std::size_t active() const noexcept { return calls_.size(); }
  // Starts `call` as a request (the body follows in call.out); false when
  // the connection took no new stream (the call is then untouched).
  bool begin(h2_call& call, std::string_view method, std::string_view authority,
             std::string_view path, std::span<const http::header> fields, bool has_body);
  // More of the call's body (or its end) is in call.out.
  void more(h2_call& call);
  // `n` bytes of call.in were used: the upstream may send that much more.
  void consumed(h2_call& call, std::size_t n);
  // The call is over for its stream (reset with CANCEL when still open).
  void release(h2_call& call) noexcept;
  // Takes no new stream; closes once the ones under way end.
  void retire() noexcept;
  // Closes it now (streams under way fail).
  void close() noexcept;

  // Whether nothing came from the upstream since `t` (no frame of any
  // stream): a try that timed out on it then suspects the connection.
  bool silent_since(steady_clock::time_point t) const noexcept { return last_heard_ < t; }

  upstream_connection& link() noexcept { return *conn_; }
  steady_clock::time_point idle_since{};

 private:
  // client_events
  bool on_response_field(std::int32_t id, std::string_view name, std::string_view value) override;
  void on_response_block(std::int32_t id, bool end) override;
  void on_response_data(std::int32_t id, std::string_view data) override;
  void on_response_end(std::int32_t id) override;
  void on_stream_close(std::int32_t id, std::uint32_t error) override;
  void on_goaway(std::int32_t last_id, std::uint32_t error) override;
  read_result read_request(std::int32_t id, char* out, std::size_t room) override;
  std::span<const http::header> request_trailers(std::int32_t id) override;

  h2_call* find(std::int32_t id) noexcept;
  void signal() noexcept { wake_writer_.cancel(); }
  // Fails every call (the connection is gone).
  void fail_all() noexcept;
  asio::awaitable<void> read_loop(std::shared_ptr<h2_connection> keep);
  asio::awaitable<void> write_loop(std::shared_ptr<h2_connection> keep);

  std::unique_ptr<upstream_connection> conn_;
  http2::client_codec codec_;
  std::string scheme_;
  std::uint32_t max_requests_;
  std::size_t max_head_, max_fields_;                     // the cluster's response head limits
  std::uint32_t started_ = 0;                             // streams begun on it
  std::vector<std::pair<std::int32_t, h2_call*>> calls_;  // streams under way
  std::string in_buf_;
  std::string out_;  // frames on their way to the upstream
  asio::steady_timer wake_writer_;
  steady_clock::time_point last_heard_{};  // the last read from the upstream
  bool retiring_ = false;
  bool dead_ = false;
};

}  // namespace gateway
