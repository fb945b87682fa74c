#pragma once
// A client connection speaking HTTP/2 (ALPN h2, or h2c with prior
// knowledge): the connection's transport carries the frames of the
// http2::server_codec, and each request stream is a gateway::stream served
// by the same pipeline as HTTP/1.1, with an h2 stream as its downstream.
// One reader (socket to codec), one writer (codec to socket), one coroutine
// per request stream, all on the connection's executor.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "asio/asio.hpp"
#include "http2/server_codec.hpp"
#include "transport/watchdog.hpp"

namespace gateway {

class connection;
struct buffer_bytes;

class h2_session final : public http2::codec_events {
 public:
  // Runs over `owner`'s transport, which outlives it.
  explicit h2_session(connection& owner);
  ~h2_session();

  // Serves the connection until it ends; the bytes the connection already
  // read (the preface, at least) are in its buffer.
  asio::awaitable<void> run();
  // Graceful (GOAWAY, open streams finish) or forced (everything stops now).
  void interrupt(bool force) noexcept;
  // Adds its streams' queues and upstream links (the connection counts its own buffers).
  void count_buffers(buffer_bytes& into) const noexcept;
  // The connection's deadline passed: stop reading.
  void expired() noexcept;

 private:
  struct h2_stream;

  // codec_events
  bool on_request_begin(std::int32_t id) override;
  void on_request_refused(std::int32_t id, bool protocol_error) override;
  bool on_request_field(std::int32_t id, std::string_view name, std::string_view value,
                        bool trailer) override;
  void on_request_head(std::int32_t id, bool end) override;
  void on_request_data(std::int32_t id, std::string_view data) override;
  void on_request_end(std::int32_t id) override;
  void on_stream_close(std::int32_t id, std::uint32_t error) override;
  read_result read_response(std::int32_t id, char* out, std::size_t room) override;
  std::span<const http::header> response_trailers(std::int32_t id) override;

  // The streams open in the codec, by id. A vector, not a tree: a client has
  // a few open at a time and opens them in increasing id order, so a new one
  // goes last and the one its fields arrive for is the last one.
  class stream_table {
   public:
    using entry = std::pair<std::int32_t, std::shared_ptr<h2_stream>>;
    using iterator = std::vector<entry>::iterator;
    using const_iterator = std::vector<entry>::const_iterator;

    iterator begin() noexcept { return v_.begin(); }
    iterator end() noexcept { return v_.end(); }
    const_iterator begin() const noexcept { return v_.begin(); }
    const_iterator end() const noexcept { return v_.end(); }
    std::size_t size() const noexcept { return v_.size(); }
    bool empty() const noexcept { return v_.empty(); }
    void clear() noexcept { v_.clear(); }
    void erase(iterator it) { v_.erase(it); }
    iterator find(std::int32_t id) noexcept {
      if (!v_.empty() && v_.back().first == id) return v_.end() - 1;
      const auto it = lower(id);
      return it != v_.end() && it->first == id ? it : v_.end();
    }
    void insert(std::int32_t id, std::shared_ptr<h2_stream> s) {
      v_.emplace(v_.empty() || v_.back().first < id ? v_.end() : lower(id), id, std::move(s));
    }

   private:
    iterator lower(std::int32_t id) noexcept {
      return std::lower_bound(v_.begin(), v_.end(), id,
                              [](const entry& e, std::int32_t k) { return e.first < k; });
    }
    std::vector<entry> v_;
  };

  h2_stream* find(std::int32_t id) noexcept;
  // Wakes the writer: the codec may have frames to send.
  void signal() noexcept;
  asio::awaitable<void> write_loop(std::shared_ptr<connection> keep);
  asio::awaitable<void> serve_stream(std::shared_ptr<h2_stream> s,
                                     std::shared_ptr<connection> keep);
  // Takes `s` out of the serving streams (if it is in).
  void stop_serving(h2_stream& s) noexcept;
  // Wakes the serving streams whose deadline passed by `now`; gives the
  // earliest deadline still ahead.
  steady_clock::time_point check_deadlines(steady_clock::time_point now) noexcept;
  // Arms the connection's idle deadline when no stream is open.
  void note_idle() noexcept;
  // Sends GOAWAY once (graceful: streams taken finish, later ones are refused).
  void go_away() noexcept;

  connection& conn_;
  std::uint32_t window_;  // the stream window announced: what a client may send unasked
  http2::server_codec codec_;
  stream_table streams_;
  std::size_t serving_ = 0;             // stream coroutines still running
  h2_stream* serving_first_ = nullptr;  // the streams serving_ counts, linked through them
  // One timer for the serving streams' deadlines: a stream arms its own
  // (the upstream's, a body's) without a timer operation of its own.
  transport::watchdog_group deadlines_;
  std::string out_;  // frames on their way to the client
  std::vector<asio::const_buffer> gather_;
  asio::steady_timer wake_writer_;
  asio::steady_timer done_;  // woken when a stream coroutine or the writer ends
  bool writer_done_ = false;
  bool stopping_ = false;          // the reader ended: the writer finishes what is queued
  bool failed_ = false;            // a write failed or the client broke the protocol
  std::int32_t goaway_last_ = -1;  // the last stream the GOAWAY took; -1: none sent
};

}  // namespace gateway
