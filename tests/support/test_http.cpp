#include "test_http.hpp"

#include <dirent.h>

#include <fstream>
#include <set>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace gwtest {
namespace {
using clock_type = std::chrono::steady_clock;
constexpr std::size_t keep_limit = 1 << 20;

bool iequal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string find(const header_list& h, const std::string& name) {
  for (const auto& [k, v] : h)
    if (iequal(k, name)) return v;
  return {};
}
std::size_t count_of(const header_list& h, const std::string& name) {
  return static_cast<std::size_t>(
      std::count_if(h.begin(), h.end(), [&](const auto& kv) { return iequal(kv.first, name); }));
}

int wait_fd(int fd, short events, clock_type::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
  if (left <= 0) return 0;
  pollfd p{fd, events, 0};
  int r = ::poll(&p, 1, static_cast<int>(left));
  return r;
}

// Reads from `fd` into `buf` until `pred(buf)` or deadline; false on EOF/error/timeout.
bool read_more(int fd, std::string& buf, clock_type::time_point deadline) {
  if (wait_fd(fd, POLLIN, deadline) <= 0) return false;
  char tmp[65536];
  ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<std::size_t>(n));
  return true;
}

bool send_all(int fd, std::string_view bytes, clock_type::time_point deadline) {
  while (!bytes.empty()) {
    if (wait_fd(fd, POLLOUT, deadline) <= 0) return false;
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void parse_headers(std::string_view block, header_list& out) {
  std::size_t pos = 0;
  while (pos < block.size()) {
    auto eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = block.size();
    std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
      v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
      v.remove_suffix(1);
    out.emplace_back(std::string(line.substr(0, colon)), std::string(v));
  }
}

// Reads a body (length / chunked / until close) from fd+buf, feeding `sink`.
template <typename Sink>
bool read_body(int fd, std::string& buf, bool chunked, bool has_length, std::uint64_t length,
               clock_type::time_point deadline, Sink&& sink, std::string* trailers) {
  if (chunked) {
    for (;;) {
      std::size_t eol;
      while ((eol = buf.find("\r\n")) == std::string::npos)
        if (!read_more(fd, buf, deadline)) return false;
      std::uint64_t size = std::stoull(buf.substr(0, eol), nullptr, 16);
      buf.erase(0, eol + 2);
      if (size == 0) {
        std::size_t end;
        while (buf.find("\r\n") != 0 && (end = buf.find("\r\n\r\n")) == std::string::npos)
          if (!read_more(fd, buf, deadline)) return false;
        if (buf.find("\r\n") == 0) {
          buf.erase(0, 2);
        } else {
          end = buf.find("\r\n\r\n");
          if (trailers) *trailers = buf.substr(0, end + 2);
          buf.erase(0, end + 4);
        }
        return true;
      }
      while (size > 0) {
        if (buf.empty() && !read_more(fd, buf, deadline)) return false;
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(size, buf.size()));
        sink(buf.data(), take);
        buf.erase(0, take);
        size -= take;
      }
      while (buf.size() < 2)
        if (!read_more(fd, buf, deadline)) return false;
      if (buf.compare(0, 2, "\r\n") != 0) return false;
      buf.erase(0, 2);
    }
  }
  if (has_length) {
    while (length > 0) {
      if (buf.empty() && !read_more(fd, buf, deadline)) return false;
      std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(length, buf.size()));
      sink(buf.data(), take);
      buf.erase(0, take);
      length -= take;
    }
    return true;
  }
  // until close
  for (;;) {
    if (!buf.empty()) {
      sink(buf.data(), buf.size());
      buf.clear();
    }
    if (!read_more(fd, buf, deadline)) return true;
  }
}
}  // namespace

void body_digest::add(const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    sum += static_cast<unsigned char>(p[i]) * ((bytes + i) % 251 + 1);
  }
  bytes += n;
}

bool body_digest::matches_pattern_of(std::uint64_t n) const {
  if (bytes != n) return false;
  // Recompute the expected digest in blocks (no allocation of the whole body).
  body_digest expected;
  char block[65536];
  for (std::uint64_t off = 0; off < n;) {
    std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(sizeof block, n - off));
    for (std::size_t i = 0; i < len; ++i)
      block[i] = static_cast<char>(pattern_byte(off + i));
    expected.add(block, len);
    off += len;
  }
  return expected.sum == sum;
}

std::string received_request::header(const std::string& name) const {
  return find(headers, name);
}
std::size_t received_request::count(const std::string& name) const {
  return count_of(headers, name);
}
std::string client_response::header(const std::string& name) const {
  return find(headers, name);
}
std::size_t client_response::count(const std::string& name) const {
  return count_of(headers, name);
}

response_plan echo(const received_request& r) {
  response_plan p;
  p.body = r.method + " " + r.target + " " + std::to_string(r.digest.bytes);
  p.headers.push_back({"content-type", "text/plain"});
  return p;
}

namespace {
// A listening TCP socket on IPv4 `address`:`port` (0: any free one); `port`
// becomes the bound one. `who` names the peer in the error thrown.
int listen_on(const std::string& address, std::uint16_t& port, int backlog, const char* who) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (::inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1)
    throw std::runtime_error(std::string(who) + ": bad address " + address);
  a.sin_port = htons(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, backlog) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(std::string(who) + ": " + why);
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}
}  // namespace

scripted_upstream::scripted_upstream(script s) : script_(std::move(s)) {
  fd_ = listen_on("127.0.0.1", port_, 16, "scripted_upstream");
  acceptor_ = std::thread([this] {
    for (;;) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0 || stop_) {
        if (c >= 0) ::close(c);
        return;
      }
      ++connections_;
      threads_.emplace_back([this, c] {
        timeval tv{0, 200'000};  // reads wake up to see `stop`
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos && !stop_) {
          const ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n == 0) break;
          if (n > 0) head.append(buf, static_cast<std::size_t>(n));
        }
        if (!stop_) script_(c, head.substr(0, head.find("\r\n\r\n") + 4), stop_);
        ::close(c);
      });
    }
  });
}

scripted_upstream::~scripted_upstream() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  acceptor_.join();
  for (auto& t : threads_)
    t.join();
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

test_upstream::test_upstream(handler h) : test_upstream(std::move(h), "127.0.0.1", 0) {}

test_upstream::test_upstream(handler h, const std::string& address, std::uint16_t port)
    : handler_(std::move(h)) {
  port_ = port;
  listen_fd_ = listen_on(address, port_, 128, "test_upstream");
  acceptor_ = std::thread([this] { accept_loop(); });
}

test_upstream::~test_upstream() {
  stopping_ = true;
  stop_listening();
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_)
      ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_)
    t.join();
}

void test_upstream::stop_listening() {
  std::lock_guard lock(mutex_);
  if (listen_fd_ >= 0) {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

received_request test_upstream::last() const {
  std::lock_guard lock(mutex_);
  return last_;
}

void test_upstream::accept_loop() {
  for (;;) {
    int lfd;
    {
      std::lock_guard lock(mutex_);
      lfd = listen_fd_;
    }
    if (lfd < 0 || stopping_) return;
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::size_t index = connections_++;
    std::lock_guard lock(mutex_);
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd, index] { serve(fd, index); });
  }
}

void test_upstream::serve(int fd, std::size_t index) {
  std::string buf;
  bool reset = false;
  for (;;) {
    auto deadline = clock_type::now() + 30s;
    std::size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      if (stopping_ || !read_more(fd, buf, deadline)) goto done;
    {
      received_request r;
      r.connection_index = index;
      std::string_view head(buf.data(), end);
      auto line_end = head.find("\r\n");
      std::string_view line = head.substr(0, line_end);
      auto s1 = line.find(' '), s2 = line.rfind(' ');
      r.method = std::string(line.substr(0, s1));
      r.target = std::string(line.substr(s1 + 1, s2 - s1 - 1));
      r.version = std::string(line.substr(s2 + 1));
      if (line_end != std::string_view::npos) parse_headers(head.substr(line_end + 2), r.headers);
      buf.erase(0, end + 4);
      r.chunked = iequal(r.header("transfer-encoding"), "chunked");
      std::string cl = r.header("content-length");
      // A request without Content-Length or chunked framing has no body (RFC 9112 §6.3).
      bool ok = read_body(
          fd, buf, r.chunked, true, cl.empty() ? 0 : std::stoull(cl), deadline,
          [&](const char* p, std::size_t n) {
            r.digest.add(p, n);
            if (r.body.size() < keep_limit)
              r.body.append(p, std::min(n, keep_limit - r.body.size()));
          },
          &r.trailers);
      if (!ok) goto done;
      ++requests_;
      response_plan plan = handler_(r);
      // Decided before `r` is handed over: a HEAD answer has no body.
      const bool head_request = r.method == "HEAD";
      {
        std::lock_guard lock(mutex_);
        last_ = std::move(r);
      }
      if (plan.delay.count() > 0) {
        // Sleep in slices so a stopping upstream does not hold its test up.
        auto until = clock_type::now() + plan.delay;
        while (!stopping_ && clock_type::now() < until)
          std::this_thread::sleep_for(5ms);
      }
      if (plan.reset) {
        linger hard{1, 0};  // close() now sends RST instead of FIN
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        reset = true;
        goto done;
      }
      if (plan.no_response) goto done;
      auto send_deadline = clock_type::now() + 60s;
      if (!plan.raw.empty()) {
        send_all(fd, plan.raw, send_deadline);
        if (plan.close_after) goto done;
        continue;
      }
      std::string head_out = "HTTP/1.1 " + std::to_string(plan.status) + " X\r\n";
      for (const auto& [k, v] : plan.headers)
        head_out += k + ": " + v + "\r\n";
      std::uint64_t size = plan.generated_bytes ? plan.generated_bytes : plan.body.size();
      if (plan.mode == response_plan::framing::content_length)
        head_out += "content-length: " + std::to_string(size) + "\r\n";
      else if (plan.mode == response_plan::framing::chunked)
        head_out += "transfer-encoding: chunked\r\n";
      if (plan.close_after || plan.mode == response_plan::framing::until_close)
        head_out += "connection: close\r\n";
      head_out += "\r\n";
      if (!send_all(fd, head_out, send_deadline)) goto done;
      bool bodyless = plan.status == 204 || plan.status == 304 || head_request;
      if (!bodyless) {
        auto emit = [&](std::string_view piece) {
          if (plan.mode == response_plan::framing::chunked) {
            char line[32];
            int n = std::snprintf(line, sizeof line, "%zx\r\n", piece.size());
            return send_all(fd, std::string_view(line, static_cast<std::size_t>(n)),
                            send_deadline) &&
                   send_all(fd, piece, send_deadline) && send_all(fd, "\r\n", send_deadline);
          }
          return send_all(fd, piece, send_deadline);
        };
        if (plan.generated_bytes) {
          std::string block(65536, '\0');
          for (std::uint64_t off = 0; off < plan.generated_bytes;) {
            std::size_t len = static_cast<std::size_t>(
                std::min<std::uint64_t>(block.size(), plan.generated_bytes - off));
            for (std::size_t i = 0; i < len; ++i)
              block[i] = static_cast<char>(pattern_byte(off + i));
            if (!emit(std::string_view(block.data(), len))) goto done;
            off += len;
          }
        } else if (!plan.body.empty() && !emit(plan.body)) {
          goto done;
        }
        if (plan.mode == response_plan::framing::chunked &&
            !send_all(fd, "0\r\n\r\n", send_deadline))
          goto done;
      }
      if (plan.close_after || plan.mode == response_plan::framing::until_close) goto done;
    }
  }
done:
  if (!reset) ::shutdown(fd, SHUT_RDWR);
  std::lock_guard lock(mutex_);
  std::erase(open_fds_, fd);
  ::close(fd);
  ++closed_;
}

test_client::test_client(std::uint16_t port) : test_client(port, std::string()) {}

test_client::test_client(std::uint16_t port, const std::string& source) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

test_client::~test_client() {
  if (fd_ >= 0) ::close(fd_);
}

bool test_client::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  return fd_ >= 0 && send_all(fd_, bytes, clock_type::now() + timeout);
}

bool test_client::send_pattern(std::uint64_t n, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  std::string block(65536, '\0');
  for (std::uint64_t off = 0; off < n;) {
    std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), n - off));
    for (std::size_t i = 0; i < len; ++i)
      block[i] = static_cast<char>(pattern_byte(off + i));
    if (!send_all(fd_, std::string_view(block.data(), len), deadline)) return false;
    off += len;
  }
  return true;
}

bool test_client::fill(clock_type::time_point deadline) {
  return read_more(fd_, buf_, deadline);
}

client_response test_client::read_response(bool head_request, std::chrono::milliseconds timeout) {
  client_response r;
  if (fd_ < 0) return r;
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return r;
    std::string_view head(buf_.data(), end);
    auto line_end = head.find("\r\n");
    std::string_view line = head.substr(0, line_end);
    if (line.size() < 12) return r;
    r.version = std::string(line.substr(0, 8));
    r.status = std::atoi(std::string(line.substr(9, 3)).c_str());
    r.headers.clear();
    if (line_end != std::string_view::npos) parse_headers(head.substr(line_end + 2), r.headers);
    buf_.erase(0, end + 4);
    if (r.status >= 100 && r.status < 200) continue;  // interim responses
    break;
  }
  r.chunked = iequal(r.header("transfer-encoding"), "chunked");
  std::string cl = r.header("content-length");
  if (head_request || r.status == 204 || r.status == 304) return r;
  bool ok = read_body(
      fd_, buf_, r.chunked, !cl.empty(), cl.empty() ? 0 : std::stoull(cl), deadline,
      [&](const char* p, std::size_t n) {
        r.digest.add(p, n);
        if (r.body.size() < keep_limit) r.body.append(p, std::min(n, keep_limit - r.body.size()));
      },
      nullptr);
  if (!ok) r.status = -r.status;  // negative: the body was cut short
  return r;
}

std::string test_client::read_until(std::string_view marker, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  std::size_t at;
  while ((at = buf_.find(marker)) == std::string::npos)
    if (!fill(deadline)) return std::exchange(buf_, {});
  std::string out = buf_.substr(0, at + marker.size());
  buf_.erase(0, at + marker.size());
  return out;
}

bool test_client::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (wait_fd(fd_, POLLIN, deadline) <= 0) return false;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return true;
  }
}

void test_client::shut_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

client_response request(std::uint16_t port, const std::string& raw, bool head_request,
                        std::chrono::milliseconds timeout) {
  test_client c(port);
  if (!c.send(raw, timeout)) return {};
  return c.read_response(head_request, timeout);
}

namespace {
std::uint64_t status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(std::strlen(key))) * 1024;
  return 0;
}
}  // namespace

std::uint64_t peak_rss() {
  return status_kb("VmHWM:");
}
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}
std::uint64_t current_rss() {
  return status_kb("VmRSS:");
}

bool process_listens_on(std::uint16_t port) {
  // Inodes of this process's sockets, from its descriptor table.
  std::set<std::string> ours;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      char target[64];
      std::string link = std::string("/proc/self/fd/") + e->d_name;
      ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      std::string t(target, static_cast<std::size_t>(n));
      if (t.rfind("socket:[", 0) == 0) ours.insert(t.substr(8, t.size() - 9));
    }
    ::closedir(d);
  }
  // Listening sockets of the network namespace: state 0A, local port in hex.
  for (const char* table : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      auto colon = local.rfind(':');
      if (state != "0A" || colon == std::string::npos) continue;
      if (std::stoul(local.substr(colon + 1), nullptr, 16) == port && ours.count(inode))
        return true;
    }
  }
  return false;
}

}  // namespace gwtest
