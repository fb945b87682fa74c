#pragma once
// One worker thread: its own io_context, its own acceptors (SO_REUSEPORT), its
// connections and its upstream pools. Nothing here is shared with another
// worker except the snapshot pointer, read once per config change.
#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "asio/asio.hpp"
#include "core/logger.hpp"
#include "pipeline/request_mirror.hpp"
#include "server/access_log.hpp"
#include "server/byte_buffer.hpp"
#include "server/h2_stream_parts.hpp"
#include "server/idle_queue.hpp"
#include "server/overload.hpp"
#include "server/snapshot.hpp"
#include "stream/stream_pool.hpp"
#include "tracing/span_buffer.hpp"
#include "upstream/connection_pool.hpp"

namespace gateway {

// What a worker serves and must be able to end: a client's connection, or a
// host's call through gateway::client. Linked into its worker's list while
// it lives, so a drain or a stop reaches it.
class worker_session {
 public:
  // Ends it when it waits for a request (drain), or at once (force).
  virtual void interrupt(bool force) noexcept = 0;
  // The identity of the socket group it came through (socket_group::id).
  virtual std::uint32_t group() const noexcept = 0;
  // Adds the capacity of the buffers it holds now (its streams' included).
  virtual void count_buffers(buffer_bytes& into) const noexcept = 0;

  worker_session* prev = nullptr;  // the worker's intrusive list
  worker_session* next = nullptr;

 protected:
  ~worker_session() = default;
};

// State the server shares with its workers.
struct server_shared {
  logger log;
  std::unique_ptr<access_log_writer> access_log;  // null: no access log
  std::unique_ptr<access_log_format> access_format;
  std::atomic<std::shared_ptr<const snapshot>> current;
  std::atomic<std::uint64_t> version{0};    // bumped after `current` changes
  std::atomic<std::size_t> connections{0};  // open client connections, all workers
  // Each worker's caps (server_options::limits, resolved when it starts).
  std::size_t max_connections_per_worker = 0;                    // 0: unlimited
  std::size_t max_streams_per_worker = 0;                        // 0: unlimited
  std::atomic<overload_level> overload{overload_level::normal};  // set by the overload monitor
};

// A listening socket of one worker for one socket group. Shared with its accept
// loop, which may still be finishing after the worker closed it on a reload.
struct listen_socket {
  listen_socket(std::uint32_t id, tcp::acceptor a) : group(id), acceptor(std::move(a)) {}
  std::uint32_t group;  // socket_group::id
  tcp::acceptor acceptor;
};

// Opens a listening socket on `where` (SO_REUSEPORT, so every worker can have
// its own) whose operations run on `context`. Callable from any thread before
// the socket is handed to the worker. Throws gateway::error (bind_failed).
std::shared_ptr<listen_socket> open_listen_socket(asio::io_context& context, std::uint32_t group,
                                                  const tcp::endpoint& where);

class worker {
 public:
  // A worker with an event loop and thread of its own; or, with `external`,
  // one whose loop is a host's io_context that the host runs (no thread).
  worker(server_shared& shared, unsigned index, asio::io_context* external = nullptr);
  ~worker();

  asio::io_context& context() noexcept { return *context_; }
  // Coroutines of this worker still running (accept and sweep loops); with
  // the connections, what a mounted worker waits for before it is gone.
  int loops() const noexcept { return loops_.load(std::memory_order_acquire); }
  // Gives the worker a listening socket made by open_listen_socket on its
  // context. Before start() only; reload() hands them over on the worker thread.
  void add_listener(std::shared_ptr<listen_socket> socket);
  // Starts the thread running the event loop.
  void start();
  // After a reload: closes the sockets of the groups in `closed`, starts
  // accepting on `opened`, and closes idle connections of removed groups, on
  // the worker thread; the future is ready once that is done.
  std::future<void> reload(std::vector<std::uint32_t> closed, std::vector<std::uint32_t> removed,
                           std::vector<std::shared_ptr<listen_socket>> opened);
  // Stop accepting and close idle connections; in-flight requests finish.
  void begin_drain();
  // Close every connection now.
  void close_all();
  // Stops the loop and joins the thread; a mounted worker waits (bounded)
  // until its coroutines have ended on the host's loop.
  void join();

  // The snapshot the worker serves from; refreshed when the config version moves.
  const std::shared_ptr<const snapshot>& current_snapshot();
  connection_pool& pool() noexcept { return pool_; }
  // Streams not serving a request, for the next one.
  stream_pool& streams() noexcept { return streams_; }
  // The parts of ended HTTP/2 streams, for the next ones.
  h2_parts_pool& h2_parts() noexcept { return h2_parts_; }
  // Blocks for client connections' buffers (input, TLS records in and
  // out), held only while in use: an idle connection holds none.
  block_pool& blocks() noexcept { return blocks_; }
  mirror_counters& mirrors() noexcept { return mirrors_; }
  // Work run between this loop's handlers (see idle_queue.hpp).
  idle_queue& idle() noexcept { return idle_; }
  // The spans of traced requests since the exporter last took them.
  tracing::span_buffer& spans() noexcept { return spans_; }
  // Moves the spans held into `out` (comma-separated span objects) and
  // empties the buffer, keeping its room; how many there were. On the
  // worker's thread.
  std::size_t take_spans(std::string& out);
  // This worker's counters for stats series `id` (valid for the ids of any
  // snapshot it has served).
  series_stats& stats(std::uint32_t id) noexcept { return stats_[id]; }
  // Copies this worker's counters; runs on the worker thread (see server.cpp).
  worker_report report() const;
  // Runs `task` on the worker thread.
  template <class F>
  void post(F&& task) {
    asio::post(*context_, std::forward<F>(task));
  }
  std::size_t upstream_active = 0;     // upstream connections carrying a request now
  std::size_t pending_handshakes = 0;  // TLS handshakes in progress
  // Counts one at `slot` of this worker's fixed counters (metrics::slot).
  void count(std::size_t slot) noexcept { counters_.add(slot); }
  void count(limit_kind k) noexcept { counters_.add(static_cast<std::size_t>(k)); }
  // This worker's fixed counters, for code that counts into a slot it picks.
  metrics::block& counters() noexcept { return counters_; }
  // This worker's counts of filter counters, by filter_counter id.
  std::vector<std::uint64_t>& filter_counts() noexcept { return filter_counts_; }
  // Takes a place for a new request (HTTP/1.1 request, HTTP/2 stream);
  // false, counted, when the worker is at its cap. end_stream gives it back.
  bool admit_stream() noexcept {
    if (overload() == overload_level::shedding) {
      count(limit_kind::overload_requests);
      return false;
    }
    if (shared_.max_streams_per_worker && open_streams >= shared_.max_streams_per_worker) {
      count(limit_kind::worker_streams);
      return false;
    }
    ++open_streams;
    return true;
  }
  void end_stream() noexcept { --open_streams; }
  // Where the overload manager has the process now (normal when it watches nothing).
  overload_level overload() const noexcept {
    return shared_.overload.load(std::memory_order_relaxed);
  }
  std::size_t open_connections = 0;  // client connections accepted and not yet closed
  std::size_t open_streams = 0;      // requests in progress (admit_stream, end_stream)
  bool access_log_enabled() const noexcept { return shared_.access_log != nullptr; }
  // Formats `r` into this worker's batch; full batches go to the writer.
  void log_request(const access_record& r);
  // Hands the batch to the writer (also done every sweep).
  void flush_access_log();
  const logger& log() const noexcept { return shared_.log; }
  bool draining() const noexcept { return draining_; }
  // Fast per-worker pseudo-random numbers (xorshift64*), not for secrets.
  std::uint64_t random() noexcept {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
  }

  void attach(worker_session* c) noexcept;
  void detach(worker_session* c) noexcept;

 private:
  asio::awaitable<void> accept_loop(std::shared_ptr<listen_socket> socket);
  asio::awaitable<void> sweep_loop();
  // Closes a connection a limit refused (after `delay`), counting it;
  // `whose` and `cap` say which limit in the log line (written at most
  // every ten seconds, and only then formatted).
  void refuse(tcp::socket socket, limit_kind why, std::string_view whose, std::size_t cap,
              std::chrono::milliseconds delay);

  server_shared& shared_;
  unsigned index_;
  // One thread runs it and every socket is touched only from that thread, so
  // the reactor needs no locks; posts from other threads stay safe. Null when
  // mounted on a host's io_context.
  std::unique_ptr<asio::io_context> own_;
  asio::io_context* context_;
  std::atomic<int> loops_{0};
  std::vector<std::shared_ptr<listen_socket>> listeners_;
  connection_pool pool_;
  stream_pool streams_;  // after pool_: a stream gives its upstream connection back as it goes
  h2_parts_pool h2_parts_;
  block_pool blocks_{17 * 1024, 256};  // room for a whole TLS record
  tracing::span_buffer spans_;
  metrics::block counters_;
  std::vector<std::uint64_t> filter_counts_;
  mirror_counters mirrors_{counters_};
  std::vector<series_stats> stats_;
  std::string log_batch_;
  std::shared_ptr<const snapshot> snapshot_;
  std::uint64_t snapshot_version_ = ~0ULL;
  worker_session* connections_ = nullptr;  // intrusive list head
  bool draining_ = false;
  steady_clock::time_point last_refusal_log_{};
  overload_level overload_seen_ = overload_level::normal;  // by the last sweep
  std::uint64_t rng_;
  asio::steady_timer sweep_timer_;
  // Bounded work run between this loop's handlers (current() on its thread;
  // a loop the host runs has none).
  idle_queue idle_;
  std::thread thread_;
};

}  // namespace gateway
