#pragma once
// Test peers written independently of the gateway's own codec: a threaded
// upstream server and a blocking client, both on plain POSIX sockets with a
// deadline on every wait, so tests can send exact bytes (framing attacks
// included) and see exactly what crossed the proxy.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace gwtest {

using namespace std::chrono_literals;
using header_list = std::vector<std::pair<std::string, std::string>>;

// Byte i of a generated body; both ends compute it to check bodies without storing them.
inline unsigned char pattern_byte(std::uint64_t i) {
  return static_cast<unsigned char>((i * 31 + 7) & 0xff);
}

struct body_digest {
  std::uint64_t bytes = 0;
  std::uint64_t sum = 0;  // sum of (byte * (offset % 251 + 1)): order-sensitive
  void add(const char* p, std::size_t n);
  bool matches_pattern_of(std::uint64_t n) const;
};

// A request as the upstream received it.
struct received_request {
  std::string method, target, version;
  header_list headers;
  std::string body;  // kept up to 1 MiB
  body_digest digest;
  bool chunked = false;
  std::string trailers;
  std::size_t connection_index = 0;
  // Value of the first header named `name` (case-insensitive), or "" if none.
  std::string header(const std::string& name) const;
  std::size_t count(const std::string& name) const;
};

// What the upstream answers.
struct response_plan {
  enum class framing { content_length, chunked, until_close };
  int status = 200;
  header_list headers;
  std::string body;
  std::uint64_t generated_bytes = 0;  // if set, a pattern body of this size instead of `body`
  framing mode = framing::content_length;
  std::chrono::milliseconds delay{0};  // before the response head
  bool close_after = false;
  std::string raw;           // if set, these bytes are sent instead of a response
  bool no_response = false;  // read the request, then close without answering
  bool reset = false;        // read the request, then reset the connection (RST)
};

using handler = std::function<response_plan(const received_request&)>;

// Answers with a description of the request it got (method, target, body size).
response_plan echo(const received_request& r);

// Answers every request with exactly `raw`, then closes if `close_after`.
inline handler answer_raw(std::string raw, bool close_after = false) {
  return [raw = std::move(raw), close_after](const received_request&) {
    response_plan p;
    p.raw = raw;
    p.close_after = close_after;
    return p;
  };
}

class test_upstream {
 public:
  explicit test_upstream(handler h = echo);
  // Listens on `address` (an IPv4 loopback address) and `port` (0: any free one).
  test_upstream(handler h, const std::string& address, std::uint16_t port);
  ~test_upstream();
  test_upstream(const test_upstream&) = delete;
  test_upstream& operator=(const test_upstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::size_t connections() const { return connections_.load(); }
  std::size_t requests() const { return requests_.load(); }
  // Connections this upstream has closed (after its socket's close() returned).
  std::size_t closed() const { return closed_.load(); }
  // Copy of the last request received.
  received_request last() const;
  // Closes the listening socket: new connections are refused.
  void stop_listening();

 private:
  void accept_loop();
  void serve(int fd, std::size_t index);

  handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> closed_{0};
  mutable std::mutex mutex_;
  received_request last_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A response as the client received it.
struct client_response {
  int status = 0;
  std::string version;
  header_list headers;
  std::string body;  // kept up to 1 MiB
  body_digest digest;
  bool chunked = false;
  std::string header(const std::string& name) const;
  std::size_t count(const std::string& name) const;
};

class test_client {
 public:
  explicit test_client(std::uint16_t port);
  // Connects from `source`, an IPv4 loopback address ("127.0.0.2"), to 127.0.0.1:port.
  test_client(std::uint16_t port, const std::string& source);
  ~test_client();
  bool connected() const { return fd_ >= 0; }
  // Sends all of `bytes`; false if the peer closed.
  bool send(std::string_view bytes, std::chrono::milliseconds timeout = 10s);
  // Sends `n` pattern bytes in blocks, as a body.
  bool send_pattern(std::uint64_t n, std::chrono::milliseconds timeout = 60s);
  // Reads one response; status 0 if none arrived before the deadline or the peer closed.
  client_response read_response(bool head_request = false, std::chrono::milliseconds timeout = 10s);
  // Raw bytes up to and including `marker`, or what arrived before the deadline.
  std::string read_until(std::string_view marker, std::chrono::milliseconds timeout = 10s);
  // True if the peer closes the connection (EOF or reset) before the deadline.
  bool closed_by_peer(std::chrono::milliseconds timeout = 5s);
  // Sends a FIN: nothing more will be sent, and reading goes on.
  void shut_write();

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string buf_;
};

// An upstream that runs `script` on every connection it accepts (the socket
// and the bytes of the request head it read), for answers test_upstream
// would not give: a head trickled forever, a body never read, a close at a
// moment the test picks. The connection is closed when the script returns.
class scripted_upstream {
 public:
  using script =
      std::function<void(int fd, const std::string& head, const std::atomic<bool>& stop)>;
  explicit scripted_upstream(script s);
  ~scripted_upstream();
  scripted_upstream(const scripted_upstream&) = delete;
  scripted_upstream& operator=(const scripted_upstream&) = delete;
  std::uint16_t port() const { return port_; }
  std::size_t connections() const { return connections_; }

 private:
  script script_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> connections_{0};
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// Sends all of `bytes` on the blocking socket `fd`; false if the peer is gone.
bool send_all(int fd, std::string_view bytes);

// Sends one request on a fresh connection and reads the response.
client_response request(std::uint16_t port, const std::string& raw, bool head_request = false,
                        std::chrono::milliseconds timeout = 10s);

// True if this process has a socket listening on TCP `port` (any address).
// Connecting to the port instead would race with other test processes, which
// the kernel may hand the port to as soon as it is free.
bool process_listens_on(std::uint16_t port);

// Peak resident set size of this process (VmHWM) since the last reset_peak_rss(), in bytes.
std::uint64_t peak_rss();
// Sets the peak to the current resident set size (Linux clear_refs 5); false if refused.
bool reset_peak_rss();
// Current resident set size (VmRSS), in bytes.
std::uint64_t current_rss();

}  // namespace gwtest
