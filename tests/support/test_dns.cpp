#include "test_dns.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace gwtest {

namespace {
void put16(std::string& s, unsigned v) {
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}
unsigned get16(const std::string& s, std::size_t at) {
  return (static_cast<unsigned char>(s[at]) << 8) | static_cast<unsigned char>(s[at + 1]);
}
// Waits up to 50 ms for `fd` to be readable, so the loops see `stopping_`.
bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 50) > 0;
}
}  // namespace

test_dns_server::test_dns_server() {
  // The TCP socket first picks the port; UDP takes the same number.
  for (int attempt = 0; attempt < 20 && udp_fd_ < 0; ++attempt) {
    tcp_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(tcp_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(tcp_fd_, 16) != 0 ||
        ::getsockname(tcp_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error(std::string("test_dns_server: ") + std::strerror(errno));
    udp_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (::bind(udp_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(udp_fd_);
      ::close(tcp_fd_);
      udp_fd_ = tcp_fd_ = -1;  // that UDP port is taken: try another
      continue;
    }
    port_ = ntohs(a.sin_port);
  }
  if (udp_fd_ < 0) throw std::runtime_error("test_dns_server: no port for both UDP and TCP");
  udp_thread_ = std::thread([this] { serve_udp(); });
  tcp_thread_ = std::thread([this] { serve_tcp(); });
}

test_dns_server::~test_dns_server() {
  stopping_ = true;
  udp_thread_.join();
  tcp_thread_.join();
  ::close(udp_fd_);
  ::close(tcp_fd_);
}

void test_dns_server::set(const std::string& name, std::vector<std::string> addresses,
                          std::uint32_t ttl) {
  std::lock_guard lock(mutex_);
  records_[name] = {std::move(addresses), ttl};
}

std::string test_dns_server::answer(const std::string& q, bool over_udp) {
  if (q.size() < 12) return {};
  // The question: labels up to the root, then type and class.
  std::size_t at = 12;
  std::string name;
  while (at < q.size() && q[at] != 0) {
    const auto len = static_cast<unsigned char>(q[at]);
    if (!name.empty()) name.push_back('.');
    name.append(q, at + 1, len);
    at += 1 + len;
  }
  if (at + 5 > q.size()) return {};
  const unsigned type = get16(q, at + 1);
  const std::string question = q.substr(12, at + 5 - 12);
  std::vector<std::string> found;
  std::uint32_t ttl = 0;
  bool known = false;
  {
    std::lock_guard lock(mutex_);
    if (auto it = records_.find(name); it != records_.end()) {
      known = true;
      ttl = it->second.second;
      for (const auto& a : it->second.first)
        if ((type == 1) == (a.find(':') == std::string::npos)) found.push_back(a);
    }
  }
  const bool truncated = over_udp && truncate_ && !found.empty();
  if (truncated) found.clear();
  std::string r;
  put16(r, get16(q, 0));                                          // id
  put16(r, 0x8180 | (truncated ? 0x0200 : 0) | (known ? 0 : 3));  // QR RD RA, TC, NXDOMAIN
  put16(r, 1);
  put16(r, static_cast<unsigned>(found.size()));
  put16(r, 0);
  put16(r, 0);
  r += question;
  for (const auto& a : found) {
    put16(r, 0xc00c);  // the question's name
    put16(r, type);
    put16(r, 1);
    put16(r, ttl >> 16);
    put16(r, ttl & 0xffff);
    if (type == 1) {
      in_addr v4;
      ::inet_pton(AF_INET, a.c_str(), &v4);
      put16(r, 4);
      r.append(reinterpret_cast<const char*>(&v4), 4);
    } else {
      in6_addr v6;
      ::inet_pton(AF_INET6, a.c_str(), &v6);
      put16(r, 16);
      r.append(reinterpret_cast<const char*>(&v6), 16);
    }
  }
  return r;
}

void test_dns_server::serve_udp() {
  while (!stopping_) {
    if (!readable(udp_fd_)) continue;
    char buf[1500];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n =
        ::recvfrom(udp_fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) continue;
    ++udp_queries_;
    if (silent_) continue;
    const std::string r = answer(std::string(buf, static_cast<std::size_t>(n)), true);
    if (!r.empty())
      ::sendto(udp_fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

void test_dns_server::serve_tcp() {
  while (!stopping_) {
    if (!readable(tcp_fd_)) continue;
    const int fd = ::accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::string in;
    char buf[1500];
    for (int waits = 0; waits < 40 && !stopping_; ++waits) {  // two seconds at most
      if (in.size() >= 2 && in.size() >= 2 + get16(in, 0)) break;
      if (!readable(fd)) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
    if (in.size() >= 2 && in.size() >= 2 + get16(in, 0)) {
      ++tcp_queries_;
      const std::string r = answer(in.substr(2, get16(in, 0)), false);
      std::string framed;
      put16(framed, static_cast<unsigned>(r.size()));
      framed += r;
      if (!silent_) ::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL);
    }
    ::close(fd);
  }
}

}  // namespace gwtest
