#pragma once
// The access log: workers format one line per request into a batch of their
// own and hand full batches to a writer thread through a bounded queue, so a
// slow disk costs dropped lines (counted), never a stalled request.
#include <gateway/filter.hpp>
#include <gateway/server.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace gateway {

// One request as the access log sees it; views are borrowed for the call.
struct access_record {
  std::chrono::system_clock::time_point time;
  std::string_view request_id, client, method, host, path, route, listener, upstream;
  std::string_view trace_id;  // a traced request's (32 hex digits), else empty
  std::string_view protocol;  // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
  int status = 0;             // 0: no response was sent
  int grpc_status = -1;       // a gRPC request's grpc-status; -1: not gRPC, or none sent
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::uint64_t duration_us = 0, upstream_us = 0;
  std::span<const std::pair<std::string, std::string>> metadata;  // what filters left
  const tls_info* tls = nullptr;                                  // HTTPS: the connection's TLS
};

// A line format compiled once: JSON, or text with %field% placeholders.
class access_log_format {
 public:
  // Throws gateway::error (invalid_config) naming an unknown %field%.
  explicit access_log_format(std::string_view format);
  // Appends the line for `r` (with its newline) to `out`.
  void append(const access_record& r, std::string& out) const;

 private:
  enum class field : std::uint8_t {
    literal,
    time,
    request_id,
    client,
    method,
    protocol,
    host,
    path,
    status,
    bytes_in,
    bytes_out,
    duration_ms,
    upstream,
    upstream_ms,
    route,
    listener,
    metadata,  // %meta:KEY%: a value a filter left, "-" when none
    tls_version,
    tls_cipher,
    tls_sni,
    client_subject,  // the client certificate's subject (mTLS)
    grpc_status,     // "-" when the request was not gRPC or got no grpc-status
    trace_id,        // "-" when the request was not traced
  };
  struct part {
    field what;
    std::string text;  // for literals
  };
  std::vector<part> parts_;  // empty: JSON
};

class access_log_writer {
 public:
  // Opens `path` ("-": stderr) for appending; throws gateway::error.
  access_log_writer(std::string path, std::size_t max_pending_bytes = 8 << 20);
  // Writes what is queued, then stops the thread.
  ~access_log_writer();
  access_log_writer(const access_log_writer&) = delete;
  access_log_writer& operator=(const access_log_writer&) = delete;

  // Queues a batch of lines (from any thread); dropped and counted when the
  // queue is over its limit.
  void submit(std::string batch);
  // Reopens the file at the same path (log rotation).
  void reopen();
  std::uint64_t dropped_lines() const;

 private:
  void run();
  int open_file() const;

  std::string path_;
  std::size_t max_pending_;
  int fd_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  std::size_t pending_ = 0;
  std::uint64_t dropped_ = 0;
  bool reopen_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gateway
