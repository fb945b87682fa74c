#pragma once
// The HTTP/2 upstream connector: a try is a stream (an h2_call) on a
// connection the worker's requests to the endpoint share (h2_connection,
// kept by the pool). The request's fields go as a header block, its body as
// DATA; the response's pieces come from the call, and the room they took in
// the flow-control windows goes back as the client takes them.
#include "transport/watchdog.hpp"
#include "upstream/h2_connection.hpp"
#include "upstream/upstream_link.hpp"

namespace gateway {

class h2_link final : public upstream_link {
 public:
  // `watch` is the stream's deadline, armed for each wait (it outlives the link).
  h2_link(asio::any_io_executor ex, transport::watchdog& watch);
  ~h2_link();
  // Arms `watch` from now on: the stream was taken by another connection.
  void bind(transport::watchdog& watch) noexcept { watch_ = &watch; }
  // Capacity of its call's queues (request body to send, response body received).
  std::size_t buffered() const noexcept { return call_.out.capacity() + call_.in.capacity(); }

  // The request's fields as HTTP/2 sends them (into `out`, with the body's
  // length written in `length` when known) and its :authority.
  static std::string_view request_fields(const request& r, std::vector<http::header>& out,
                                         char (&length)[24]);

  bool take_pooled(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
                   steady_clock::time_point now, bool replay) override;
  bool wait_for_opening(const connection_pool& pool, const endpoint_state& ep) const override;
  void opening(connection_pool& pool, const endpoint_state& ep, bool started) noexcept override;
  void attach(connection_pool& pool, const snapshot& s, std::size_t c, std::size_t h,
              std::unique_ptr<upstream_connection> conn) override;
  upstream_connection* connection() noexcept override {
    return call_.conn ? &call_.conn->link() : nullptr;
  }
  bool begin(const request& r) override;
  asio::awaitable<bool> send(std::span<const asio::const_buffer> pieces, std::uint64_t bytes,
                             bool end, std::span<const http::header> trailers) override;
  asio::awaitable<head_result> read_head(http1::response_head& into) override;
  // A head refused for its size was an answer too (it would come again).
  bool responded() const noexcept override { return call_.answered() || call_.over_limit; }
  bool head_over_limit() const noexcept override { return call_.over_limit; }
  void start_body(const http1::response_head& head, bool bodyless) override;
  body_step take(std::vector<asio::const_buffer>& out) override;
  asio::awaitable<bool> fill() override;
  void trailers(std::vector<http::header>& out) const override { call_.trailers.append_to(out); }
  void finish(connection_pool& pool, bool keep) noexcept override;
  void interrupt() noexcept override;
  void close() noexcept override { release(); }
  bool refused() const noexcept override { return call_.refused; }
  std::uint32_t reset_code() const noexcept override { return call_.error; }
  bool retire_if_silent(steady_clock::time_point sent_at) noexcept override;

 private:
  // Clears `into` for an HTTP/2 head of `status` (its fields follow).
  static void start_head(http1::response_head& into, int status) noexcept;
  // Puts the call on `conn` for a new try.
  void use(std::shared_ptr<h2_connection> conn);
  // Lets go of the call's stream (reset when it is still open).
  void release() noexcept;
  // What was taken of the body is used: the upstream may send that much more.
  void give_back_taken() noexcept;
  // Waits for news on the call (the connection wakes it on every change).
  asio::awaitable<std::tuple<boost::system::error_code>> news();
  // The try's deadline passed or it was interrupted: it waits no more.
  bool stopped() const noexcept { return watch_->expired() || interrupted_; }

  transport::watchdog* watch_;
  h2_call call_;
  bool on_ = false;  // the call is on a connection (a try is under way)
  bool interrupted_ = false;
  bool bodyless_ = false;
  std::chrono::milliseconds idle_{};
  std::size_t backlog_ = 64 * 1024;  // request body waiting in the call: the cluster's buffer limit
  std::vector<http::header> fields_;
  char length_[24];
  owned_fields interim_;   // the 1xx head being forwarded
  std::string body_;       // the body piece being relayed
  std::size_t taken_ = 0;  // of body_, given back to the windows at the next take or fill
};

}  // namespace gateway
