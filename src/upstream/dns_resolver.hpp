#pragma once
// A small asynchronous DNS stub resolver for upstream hostnames: the hosts
// file first, then A and AAAA queries over UDP (with EDNS0, and TCP when an
// answer is truncated) to the configured nameservers or those of
// /etc/resolv.conf. It runs on the upstream monitor's thread, never on a
// worker, and returns every address with the records' smallest TTL.
#include <gateway/upstream.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

struct dns_result {
  std::vector<asio::ip::address> addresses;
  std::chrono::seconds ttl{0};  // smallest TTL of the records (hosts file: 0)
  std::string error;            // empty on success; NXDOMAIN, timeout, ...
};

class dns_resolver {
 public:
  // `resolvers` as "IP" or "IP:port" ("[v6]:port"); empty: /etc/resolv.conf's.
  // Throws gateway::error (invalid_config) for an unparsable resolver.
  dns_resolver(asio::io_context& context, const dns_config& config);

  // All addresses of `name` for the configured family.
  asio::awaitable<dns_result> resolve(std::string name);

 private:
  asio::awaitable<dns_result> query(const udp::endpoint& server, const std::string& name,
                                    std::uint16_t type);
  asio::awaitable<std::string> exchange_tcp(const udp::endpoint& server, const std::string& packet,
                                            std::string& error);

  asio::io_context& context_;
  dns_config config_;
  std::vector<udp::endpoint> servers_;
  std::uint16_t next_id_;
};

// A nameserver given as "IP", "IP:port" or "[IPv6]:port" (port 53 by default);
// throws gateway::error (invalid_config) for anything else.
udp::endpoint parse_nameserver(const std::string& text);
// The nameservers of a resolv.conf file (port 53); 127.0.0.1 when it names none.
std::vector<udp::endpoint> nameservers_of(const std::string& resolv_conf);
// The addresses a hosts file gives `name` (lowercase, no trailing dot).
std::vector<asio::ip::address> hosts_file_lookup(const std::string& path, const std::string& name);

}  // namespace gateway
