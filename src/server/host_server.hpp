#pragma once
// What gateway::client and gateway::middleware run on: a server whose
// listeners only route a host's requests (by port and Host; never bound),
// on its own threads or mounted on the host's io_context, and the hand-off
// of a host's request to one of its workers. close() stops the workers only
// once no hand-off is under way, and refuses later ones.
#include <gateway/server.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "asio/asio.hpp"
#include "server/worker.hpp"

namespace gateway {

class host_server {
 public:
  // Builds and starts the server (threads, or mounted on `context`).
  // Throws gateway::error.
  host_server(gateway_config config, server_options options, asio::io_context* context);

  // Holds off close() while a hand-off picks its worker and posts to it.
  class hand_off {
   public:
    explicit hand_off(host_server& s) : n_(s.entering_) { n_.fetch_add(1); }
    ~hand_off() { n_.fetch_sub(1); }
    hand_off(const hand_off&) = delete;
    hand_off& operator=(const hand_off&) = delete;

   private:
    std::atomic<int>& n_;
  };
  // Under a hand_off: the worker for the next request (round robin);
  // throws invalid_state, saying `who`, once closed.
  worker& next_worker(const char* who);
  // Runs `task` on `w`'s thread unless closed; false (nothing runs) then.
  template <class F>
  bool post(worker& w, F&& task) {
    hand_off held(*this);
    if (closed_.load()) return false;
    w.post(std::forward<F>(task));
    return true;
  }
  // Whether the caller is on the mounted loop's own thread (a blocking call
  // there would wait for itself).
  bool on_host_loop() const noexcept {
    return host_ && host_->get_executor().running_in_this_thread();
  }
  bool closed() const noexcept { return closed_.load(); }

  void reload(gateway_config config, const char* who);
  std::string stats_text(const char* who) const;
  // Refuses new hand-offs, waits out those under way, then stops the server
  // at once (requests in flight end).
  void close();

 private:
  server srv_;
  asio::io_context* host_;
  std::atomic<unsigned> next_{0};
  std::atomic<int> entering_{0};
  std::atomic<bool> closed_{false};
  std::mutex closing_;
};

}  // namespace gateway
