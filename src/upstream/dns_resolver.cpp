#include "upstream/dns_resolver.hpp"
#include "upstream/dns_message.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <boost/asio/read.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <random>
#include <sstream>

namespace gateway {

namespace {
using namespace dns;

std::string lower_name(std::string name) {
  for (char& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!name.empty() && name.back() == '.')
    name.pop_back();
  return name;
}

}  // namespace

udp::endpoint parse_nameserver(const std::string& text) {
  std::string host = text;
  std::uint16_t port = 53;
  if (!text.empty() && text.front() == '[') {  // [v6]:port
    const auto close = text.find(']');
    if (close == std::string::npos)
      throw error(errc::invalid_config, fmt::format("resolver '{}'", text));
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':')
        throw error(errc::invalid_config, fmt::format("resolver '{}'", text));
      auto r = std::from_chars(text.data() + close + 2, text.data() + text.size(), port);
      if (r.ec != std::errc() || r.ptr != text.data() + text.size() || port == 0)
        throw error(errc::invalid_config, fmt::format("resolver '{}': bad port", text));
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {  // v4:port
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    auto r = std::from_chars(text.data() + colon + 1, text.data() + text.size(), port);
    if (r.ec != std::errc() || r.ptr != text.data() + text.size() || port == 0)
      throw error(errc::invalid_config, fmt::format("resolver '{}': bad port", text));
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec)
    throw error(errc::invalid_config,
                fmt::format("resolver '{}' is not an IP address (and port)", text));
  return {address, port};
}

std::vector<udp::endpoint> nameservers_of(const std::string& resolv_conf) {
  std::vector<udp::endpoint> out;
  std::ifstream in(resolv_conf);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    if (auto pct = value.find('%'); pct != std::string::npos) value.resize(pct);  // zone id
    boost::system::error_code ec;
    auto address = asio::ip::make_address(value, ec);
    if (!ec) out.emplace_back(address, 53);
  }
  if (out.empty()) out.emplace_back(asio::ip::make_address("127.0.0.1"), 53);  // glibc's default
  return out;
}

std::vector<asio::ip::address> hosts_file_lookup(const std::string& path, const std::string& name) {
  std::vector<asio::ip::address> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string address_text, alias;
    if (!(words >> address_text)) continue;
    boost::system::error_code ec;
    auto address = asio::ip::make_address(address_text, ec);
    if (ec) continue;
    while (words >> alias)
      if (lower_name(alias) == name && std::find(out.begin(), out.end(), address) == out.end())
        out.push_back(address);
  }
  return out;
}

dns_resolver::dns_resolver(asio::io_context& context, const dns_config& config)
    : context_(context),
      config_(config),
      next_id_(static_cast<std::uint16_t>(std::random_device{}())) {
  for (const auto& r : config.resolvers)
    servers_.push_back(parse_nameserver(r));
  if (servers_.empty()) servers_ = nameservers_of("/etc/resolv.conf");
}

asio::awaitable<dns_result> dns_resolver::resolve(std::string name) {
  name = lower_name(std::move(name));
  dns_result out;
  auto keep = [&](const asio::ip::address& a) {
    const bool v4 = a.is_v4();
    switch (config_.family) {
      case dns_family::v4:
        return v4;
      case dns_family::v6:
        return !v4;
      default:
        return true;
    }
  };
  if (!config_.hosts_file.empty()) {
    for (const auto& a : hosts_file_lookup(config_.hosts_file, name))
      if (keep(a)) out.addresses.push_back(a);
    if (!out.addresses.empty()) co_return out;  // files before DNS, as nsswitch does
  }
  std::vector<std::uint16_t> types;
  switch (config_.family) {
    case dns_family::v4:
    case dns_family::v4_preferred:
      types = {type_a, type_aaaa};
      break;
    case dns_family::v6:
    case dns_family::v6_preferred:
      types = {type_aaaa, type_a};
      break;
    case dns_family::v4_and_v6:
      types = {type_a, type_aaaa};
      break;
  }
  const bool only_one = config_.family == dns_family::v4 || config_.family == dns_family::v6;
  const bool preferred =
      config_.family == dns_family::v4_preferred || config_.family == dns_family::v6_preferred;
  if (only_one) types.resize(1);
  std::uint32_t ttl = UINT32_MAX;
  std::string last_error;
  bool answered = false;
  for (std::uint16_t type : types) {
    if (preferred && !out.addresses.empty()) break;  // the preferred family had records
    // Each nameserver in turn until one answers (an empty answer is an answer).
    for (const auto& server : servers_) {
      dns_result r = co_await query(server, name, type);
      if (!r.error.empty()) {
        last_error = r.error;
        if (r.error == "NXDOMAIN") {
          answered = true;
          break;
        }
        continue;
      }
      answered = true;
      out.addresses.insert(out.addresses.end(), r.addresses.begin(), r.addresses.end());
      if (!r.addresses.empty())
        ttl = std::min<std::uint32_t>(ttl, static_cast<std::uint32_t>(r.ttl.count()));
      break;
    }
  }
  if (out.addresses.empty())
    out.error = answered ? (last_error.empty() ? "no address records" : last_error) : last_error;
  out.ttl = std::chrono::seconds(ttl == UINT32_MAX ? 0 : ttl);
  co_return out;
}

asio::awaitable<dns_result> dns_resolver::query(const udp::endpoint& server,
                                                const std::string& name, std::uint16_t type) {
  dns_result out;
  const std::uint16_t id = next_id_++;
  const std::string packet = make_query(id, name, type);
  // The deadline's handler may outlive this frame, so what it touches is shared.
  struct query_io {
    explicit query_io(asio::io_context& c) : socket(c) {}
    udp::socket socket;
    bool timed_out = false;
  };
  auto io = std::make_shared<query_io>(context_);
  boost::system::error_code ec;
  io->socket.open(server.protocol(), ec);
  if (ec) {
    out.error = fmt::format("socket: {}", ec.message());
    co_return out;
  }
  asio::steady_timer deadline(context_);
  deadline.expires_after(config_.timeout);
  deadline.async_wait([io](boost::system::error_code e) {
    if (e) return;
    io->timed_out = true;
    boost::system::error_code ignored;
    io->socket.close(ignored);
  });
  auto [sec, sent] = co_await io->socket.async_send_to(asio::buffer(packet), server, use_tuple);
  std::string answer(4096, '\0');
  parsed p;
  while (!sec) {
    udp::endpoint from;
    auto [rec, n] = co_await io->socket.async_receive_from(asio::buffer(answer), from, use_tuple);
    if (rec) {
      sec = rec;
      break;
    }
    if (from != server) continue;  // not our nameserver: ignore it
    p = parse_answer(std::string_view(answer.data(), n), id, type);
    if (p.ok) break;  // anything else (a stale or forged id) is ignored
  }
  deadline.cancel();
  if (!p.ok) {
    out.error = io->timed_out ? "timed out (" + server.address().to_string() + ")"
                              : "no answer: " + sec.message();
    co_return out;
  }
  if (p.truncated) {  // too big for a datagram: ask again over TCP
    std::string error;
    std::string whole = co_await exchange_tcp(server, packet, error);
    if (!error.empty()) {
      out.error = error;
      co_return out;
    }
    p = parse_answer(whole, id, type);
    if (!p.ok) {
      out.error = "malformed answer over TCP";
      co_return out;
    }
  }
  if (p.rcode == 3) {
    out.error = "NXDOMAIN";
    co_return out;
  }
  if (p.rcode != 0) {
    out.error = fmt::format("server failure (rcode {})", p.rcode);
    co_return out;
  }
  out.addresses = std::move(p.addresses);
  out.ttl = std::chrono::seconds(p.ttl == UINT32_MAX ? 0 : p.ttl);
  co_return out;
}

asio::awaitable<std::string> dns_resolver::exchange_tcp(const udp::endpoint& server,
                                                        const std::string& packet,
                                                        std::string& error) {
  struct tcp_io {
    explicit tcp_io(asio::io_context& c) : socket(c) {}
    tcp::socket socket;
  };
  auto io = std::make_shared<tcp_io>(context_);
  asio::steady_timer deadline(context_);
  deadline.expires_after(config_.timeout);
  deadline.async_wait([io](boost::system::error_code e) {
    if (e) return;
    boost::system::error_code ignored;
    io->socket.close(ignored);
  });
  std::string framed;
  put16(framed, static_cast<std::uint16_t>(packet.size()));
  framed += packet;
  std::string answer;
  auto [cec] = co_await io->socket.async_connect({server.address(), server.port()}, use_tuple);
  if (!cec) {
    auto [wec, wn] = co_await asio::async_write(io->socket, asio::buffer(framed), use_tuple);
    char len[2];
    auto [lec, ln] = co_await asio::async_read(io->socket, asio::buffer(len), use_tuple);
    if (!wec && !lec) {
      answer.resize(get16(std::string_view(len, 2), 0));
      auto [rec, rn] = co_await asio::async_read(io->socket, asio::buffer(answer), use_tuple);
      if (rec) error = fmt::format("TCP read: {}", rec.message());
    } else {
      error = "TCP exchange failed";
    }
  } else {
    error = fmt::format("TCP connect: {}", cec.message());
  }
  deadline.cancel();
  co_return answer;
}

}  // namespace gateway
