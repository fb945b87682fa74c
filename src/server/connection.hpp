#pragma once
// One HTTP/1.1 client connection: a coroutine that reads request heads and
// hands each to its stream (one at a time), plus a watchdog coroutine that
// enforces the current phase's deadline. Its buffers and its stream are
// reused from request to request.
#include <memory>
#include <string>
#include <vector>

#include "asio/asio.hpp"
#include "http1/http1_parser.hpp"
#include "server/byte_buffer.hpp"
#include "server/snapshot.hpp"
#include "stream/stream.hpp"
#include "transport/client_stream.hpp"
#include "transport/watchdog.hpp"

namespace gateway {

class worker;

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(worker& owner, tcp::socket socket, std::uint32_t group);
  ~connection();

  asio::awaitable<void> run();
  asio::awaitable<void> watchdog();
  // Closes the connection if it is waiting for a request (drain) or at once (force).
  void interrupt(bool force) noexcept;
  // The identity of the socket group that accepted it (socket_group::id).
  std::uint32_t group() const noexcept { return group_; }

  connection* prev = nullptr;  // worker's intrusive list
  connection* next = nullptr;

 private:
  friend class stream;  // the pipeline reads the connection's facts and writes through it

  // Takes the worker's current snapshot for the next request; false (and the
  // old snapshot kept) when the connection's socket group is not in it any
  // more: a reload removed its listeners, so it closes after what was sent.
  bool refresh_snapshot();
  // On an HTTPS listener, the TLS handshake (with its timeout); false when
  // it failed and the connection closes. Plain listeners: true at once.
  asio::awaitable<bool> start_tls();
  // Writes and then clears `gather` to the client, counting the bytes for
  // the current request.
  asio::awaitable<bool> flush_client(std::vector<asio::const_buffer>& gather);
  asio::awaitable<bool> read_request_head();
  // Fills local_ip_ and local_port_ once (the socket's own address).
  void learn_local_address() noexcept;
  std::string_view client_protocol() const noexcept {
    return client_version_minor_ == 0 ? "HTTP/1.0" : "HTTP/1.1";
  }
  void close() noexcept;

  worker& worker_;
  transport::client_stream client_;
  transport::watchdog watch_;         // the deadline of what the connection waits on now
  std::uint64_t tls_validation_ = 0;  // client validation of the handshake's listener
  std::uint32_t group_;
  std::shared_ptr<const snapshot> snapshot_;  // what the current request is served from
  const socket_group* group_rt_ = nullptr;
  const listener_runtime* listener_rt_ = nullptr;  // the group's first, then the request's
  bool group_gone_ = false;

  byte_buffer in_;         // bytes from the client
  std::string authority_;  // "ip:port" this connection arrived on, for requests without Host
  http1::head_scanner scanner_;
  bool client_keep_alive_ = false;
  int client_version_minor_ = 1;
  char client_ip_[48];
  std::size_t client_ip_len_ = 0;
  std::uint16_t client_port_ = 0;
  // The gateway's end of the connection, looked up the first time a request needs it.
  char local_ip_[48];
  std::size_t local_ip_len_ = 0;
  std::uint16_t local_port_ = 0;

  bool open_ = true;
  bool force_closed_ = false;
  bool linger_ = false;  // closing after an answer that may have left client input unread
  stream stream_;        // the request being served (one at a time on HTTP/1.1)
};

}  // namespace gateway
