#pragma once
// A Redis connection for the global rate limit: one per limiter (not per
// worker), on the gateway's background thread (filter_services), with every
// worker's commands pipelined on it. Workers hand it commands and get
// answers through callbacks on its thread; a paused filter turns them into
// resume(). One connection pipelines better than one per worker, and the
// filter API needs no access to a worker's event loop, so a host's own async
// filters work the same way.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace gateway {
class filter_services;
}
namespace gateway::tls {
class client_context;
}

namespace gateway::filters {

class redis_client {
 public:
  struct options {
    std::string host = "127.0.0.1";  // an IP address, or a name resolved at each connect
    std::uint16_t port = 6379;
    std::chrono::milliseconds timeout{100};  // connect, and each batch's answer
    // AUTH on each new connection when a password is set: the default
    // user's (requirepass), or `username`'s (an ACL user).
    std::string username, password;
    // TLS to the server when set (its trust and names; the host is the SNI
    // and the name checked unless the context says otherwise).
    std::shared_ptr<const tls::client_context> tls;
    filter_services* services = nullptr;  // whose thread runs the connection (the factory's)
  };
  // Counts of INCR, one per key, or why there are none (timed_out,
  // connection_refused, connection_reset, protocol_error, permission_denied:
  // the server refused AUTH).
  using callback = std::function<void(std::error_code, std::span<const std::int64_t>)>;

  explicit redis_client(options o);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // For each (key, ttl seconds): INCR key, then EXPIRE key ttl NX, pipelined.
  // Callable from any thread; `done` runs on the client's thread, exactly once.
  void count(std::vector<std::pair<std::string, std::int64_t>> keys, callback done);

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace gateway::filters
