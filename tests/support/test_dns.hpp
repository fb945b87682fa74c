#pragma once
// A DNS server for tests, written independently of the gateway's resolver: it
// answers A and AAAA questions on 127.0.0.1 (UDP, and TCP on the same port)
// from records the test sets and changes while it runs.
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gwtest {

class test_dns_server {
 public:
  test_dns_server();
  ~test_dns_server();
  test_dns_server(const test_dns_server&) = delete;
  test_dns_server& operator=(const test_dns_server&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:<port>", for a cluster's resolvers.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The A (dotted) and AAAA (colon) records of `name`, with `ttl` seconds.
  // A name never set is NXDOMAIN.
  void set(const std::string& name, std::vector<std::string> addresses, std::uint32_t ttl = 1);
  // Answers over UDP are truncated (TC, no records) so clients must ask over TCP.
  void truncate_udp(bool on) { truncate_ = on; }
  // Stop answering at all (queries time out).
  void silent(bool on) { silent_ = on; }
  std::size_t udp_queries() const { return udp_queries_.load(); }
  std::size_t tcp_queries() const { return tcp_queries_.load(); }

 private:
  std::string answer(const std::string& query, bool over_udp);
  void serve_udp();
  void serve_tcp();

  int udp_fd_ = -1, tcp_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false}, truncate_{false}, silent_{false};
  std::atomic<std::size_t> udp_queries_{0}, tcp_queries_{0};
  std::mutex mutex_;
  std::map<std::string, std::pair<std::vector<std::string>, std::uint32_t>> records_;
  std::thread udp_thread_, tcp_thread_;
};

}  // namespace gwtest
