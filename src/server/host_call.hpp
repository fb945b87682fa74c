#pragma once
// A host's request run through a worker's pipeline from memory: an
// in-memory client side (its request whole in memory, its response
// collected or handed on piece by piece). Two uses: a gateway::client call,
// whose stream goes on to the upstream leg exactly as a proxied request;
// and a gateway::middleware request, whose stream has the host's handler as
// its upstream (a host_link): the request goes to the host through
// `forward` and the host's answer comes back through answer().
#include <gateway/client.hpp>
#include <gateway/middleware.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "middleware/host_link.hpp"
#include "server/snapshot.hpp"
#include "server/target_url.hpp"
#include "server/worker.hpp"
#include "stream/downstream.hpp"
#include "stream/stream.hpp"
#include "transport/watchdog.hpp"

namespace gateway {

// The targets a client's snapshot routes to ("host:port, ..."), for a
// not_found message.
std::string known_targets(const snapshot& snap);

class host_call final : public downstream,
                        public worker_session,
                        public host_peer,
                        public std::enable_shared_from_this<host_call> {
 public:
  using completion = std::function<void(client_result)>;
  using forwarding = std::function<void(forwarded_request)>;

  // On `w`'s thread: the call of `request` (its URL parsed into `url`)
  // through `snap`'s socket group `group`, from `client_address`; `done`
  // runs once, on that thread, with the response. With `forward` (a
  // middleware's request) the host's handler is the upstream: `forward`
  // gets the request as the pipeline lets it through, and a head the
  // gateway would refuse is answered (400...) rather than an error.
  host_call(worker& w, std::shared_ptr<const snapshot> snap, const socket_group& group,
            client_request request, const parsed_url& url, std::string client_address,
            completion done, forwarding forward = {});
  ~host_call();

  // Serves the call on the worker's loop and then completes it.
  void start();
  // A middleware's request, on the worker's thread: the handler's response
  // to what `forward` got, or the host giving up on it.
  void answer(host_response r) { host_->answer(std::move(r)); }
  void abandon() noexcept { host_->abandon(); }
  worker& owner_worker() noexcept { return worker_; }

  // host_peer
  void to_host(std::string_view method, std::string_view target,
               std::span<const http::header> fields, std::string_view body) override;

  // worker_session: a drain lets the call finish; a forced stop ends it.
  void interrupt(bool force) noexcept override;
  std::uint32_t group() const noexcept override { return group_; }
  // The request and response are the host's strings; the upstream link's count.
  void count_buffers(buffer_bytes& into) const noexcept override {
    into.upstream += stream_.upstream_buffers();
  }

  // downstream
  std::pair<std::string_view, std::uint16_t> local_address() noexcept override;
  std::weak_ptr<void> owner() noexcept override { return weak_from_this(); }
  void release_head() noexcept override {}
  body_view peek_body(std::vector<asio::const_buffer>& out) override;
  void release_body() noexcept override { body_released_ = true; }
  asio::awaitable<body_read> read_body(std::size_t room) override;
  void start_response(const response_start& r) override;
  void send_body(std::span<const asio::const_buffer> pieces, std::uint64_t bytes) override;
  asio::awaitable<bool> send(bool end, std::span<const http::header> trailers) override;
  asio::awaitable<bool> send_interim(int status, std::string_view reason,
                                     std::span<const http::header> fields) override;
  asio::awaitable<bool> send_local(const local_answer& a) override;
  void drop() noexcept override;
  void end_after_response() noexcept override {}

 private:
  asio::awaitable<void> run();
  asio::awaitable<void> keep_deadlines();
  // Runs `done_` with what the call came to (once).
  void complete(client_result result) noexcept;
  // Hands a response body piece to the host's on_body; one that throws ends the call.
  void hand_on(std::string_view piece) noexcept;

  worker& worker_;
  std::shared_ptr<const snapshot> snap_;  // what the call is served from
  std::uint32_t group_;
  client_request request_;
  parsed_url url_;
  std::string client_address_;
  completion done_;
  forwarding forward_;
  const char* who_;                // "client" or "middleware", for messages
  std::optional<host_link> host_;  // a middleware's
  transport::watchdog watch_;
  stream stream_;
  std::string text_;  // the request as a client would write it
  std::string_view body_;
  bool body_released_ = false;
  int refused_ = 0;  // the parser's status for a head it refused
  client_response response_;
  bool response_started_ = false;
  bool response_ended_ = false;
  std::uint64_t body_bytes_ = 0;
  std::string scratch_;    // a local answer's wire form
  std::string abandoned_;  // why the host's on_body ended the call
};

}  // namespace gateway
