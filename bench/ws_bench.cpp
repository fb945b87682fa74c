// WebSocket echo for bench/run: both ends of the WebSocket row.
//
//   ws_bench server PORT
//       An echo server on 127.0.0.1:PORT, one thread: the RFC 6455 handshake,
//       then every client frame (masked) comes back unmasked with the same
//       opcode and payload; a close frame is answered and the connection ends.
//   ws_bench client PORT CONNECTIONS SECONDS SIZE
//       CONNECTIONS WebSocket connections to 127.0.0.1:PORT (GET /ws), each
//       sending a SIZE-byte text message and waiting for its echo, again and
//       again for SECONDS. Prints wrk's lines (messages count as requests):
//       total, Requests/sec, the 50th and 99th percentile round trip.
//
// One event loop each, so the tool costs one core at most and its pinning
// (taskset in bench/run) decides where.
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "asio/asio.hpp"

namespace {

using gateway::tcp;
using gateway::use_tuple;
namespace asio = boost::asio;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string accept_key(std::string_view key) {
  std::string text(key);
  text += websocket_guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return {reinterpret_cast<char*>(out), static_cast<std::size_t>(n)};
}

// Reads until a blank line; the head (without it) or "" on failure.
asio::awaitable<std::string> read_head(tcp::socket& s, std::string& buffer) {
  for (;;) {
    if (const auto end = buffer.find("\r\n\r\n"); end != std::string::npos) {
      std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      co_return head;
    }
    char chunk[4096];
    auto [ec, n] = co_await s.async_read_some(asio::buffer(chunk), use_tuple);
    if (ec) co_return std::string();
    buffer.append(chunk, n);
  }
}

// A frame's parts once `buffer` holds all of it; false while it does not.
struct frame {
  unsigned char opcode = 0;
  std::size_t header = 0, length = 0;
  bool masked = false;
};
bool parse_frame(std::string_view buffer, frame& f) {
  if (buffer.size() < 2) return false;
  const auto b0 = static_cast<unsigned char>(buffer[0]);
  const auto b1 = static_cast<unsigned char>(buffer[1]);
  f.opcode = b0 & 0x0f;
  f.masked = (b1 & 0x80) != 0;
  std::size_t at = 2, length = b1 & 0x7f;
  if (length == 126) {
    if (buffer.size() < 4) return false;
    length = (static_cast<unsigned char>(buffer[2]) << 8) | static_cast<unsigned char>(buffer[3]);
    at = 4;
  } else if (length == 127) {
    if (buffer.size() < 10) return false;
    length = 0;
    for (int i = 2; i < 10; ++i)
      length = (length << 8) | static_cast<unsigned char>(buffer[i]);
    at = 10;
  }
  if (f.masked) at += 4;
  f.header = at;
  f.length = length;
  return buffer.size() >= at + length;
}

// Appends a frame header for `length` bytes of `opcode` (FIN set).
void frame_header(std::string& out, unsigned char opcode, std::size_t length, bool masked) {
  out.push_back(static_cast<char>(0x80 | opcode));
  const unsigned char mask_bit = masked ? 0x80 : 0;
  if (length < 126) {
    out.push_back(static_cast<char>(mask_bit | length));
  } else if (length < 65536) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(length >> 8));
    out.push_back(static_cast<char>(length & 0xff));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i)
      out.push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  }
}

asio::awaitable<void> serve(tcp::socket s) {
  s.set_option(tcp::no_delay(true));
  std::string in, out;
  const std::string head = co_await read_head(s, in);
  std::string lower = head;
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = lower.find("\r\nsec-websocket-key:");
  if (at == std::string::npos) co_return;
  std::string_view key = std::string_view(head).substr(at + 20);
  key = key.substr(0, key.find("\r\n"));
  while (!key.empty() && key.front() == ' ')
    key.remove_prefix(1);
  out =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
      "sec-websocket-accept: " +
      accept_key(key) + "\r\n\r\n";
  if (auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), use_tuple); ec) co_return;
  char chunk[65536];
  for (;;) {
    frame f;
    while (!parse_frame(in, f)) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(chunk), use_tuple);
      if (ec) co_return;
      in.append(chunk, n);
    }
    out.clear();
    frame_header(out, f.opcode, f.length, false);
    const char* mask = in.data() + f.header - 4;
    const std::size_t start = out.size();
    out.append(in, f.header, f.length);
    if (f.masked)
      for (std::size_t i = 0; i < f.length; ++i)
        out[start + i] = static_cast<char>(out[start + i] ^ mask[i % 4]);
    in.erase(0, f.header + f.length);
    if (auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), use_tuple); ec) co_return;
    if (f.opcode == 0x8) co_return;
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& a) {
  for (;;) {
    auto [ec, s] = co_await a.async_accept(use_tuple);
    if (ec) co_return;
    asio::co_spawn(a.get_executor(), serve(std::move(s)), asio::detached);
  }
}

struct client_totals {
  std::vector<std::uint32_t> micros;  // one per echoed message
  std::size_t failed = 0;
};

asio::awaitable<void> client(std::uint16_t port, clock_type::time_point until, std::size_t size,
                             client_totals& totals) {
  tcp::socket s(co_await asio::this_coro::executor);
  auto [ec] = co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, use_tuple);
  if (ec) {
    ++totals.failed;
    co_return;
  }
  s.set_option(tcp::no_delay(true));
  const std::string handshake =
      "GET /ws HTTP/1.1\r\nhost: bench.test\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";
  if (auto [e, n] = co_await asio::async_write(s, asio::buffer(handshake), use_tuple); e) {
    ++totals.failed;
    co_return;
  }
  std::string in;
  const std::string head = co_await read_head(s, in);
  if (!head.starts_with("HTTP/1.1 101")) {
    ++totals.failed;
    co_return;
  }
  // One masked message, sent again and again (the mask is fixed: nothing
  // here needs it unpredictable).
  std::string message;
  frame_header(message, 0x1, size, true);
  const char mask[4] = {0x12, 0x34, 0x56, 0x78};
  message.append(mask, 4);
  for (std::size_t i = 0; i < size; ++i)
    message.push_back(static_cast<char>('a' ^ mask[i % 4]));
  char chunk[65536];
  while (clock_type::now() < until) {
    const auto sent = clock_type::now();
    if (auto [e, n] = co_await asio::async_write(s, asio::buffer(message), use_tuple); e) {
      ++totals.failed;
      co_return;
    }
    frame f;
    while (!parse_frame(in, f)) {
      auto [e, n] = co_await s.async_read_some(asio::buffer(chunk), use_tuple);
      if (e) {
        ++totals.failed;
        co_return;
      }
      in.append(chunk, n);
    }
    if (f.length != size || f.masked) {
      ++totals.failed;
      co_return;
    }
    in.erase(0, f.header + f.length);
    totals.micros.push_back(static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - sent).count()));
  }
  std::string close;
  frame_header(close, 0x8, 0, true);
  close.append(mask, 4);
  co_await asio::async_write(s, asio::buffer(close), use_tuple);
}

int usage() {
  std::fprintf(stderr,
               "usage: ws_bench server PORT\n"
               "       ws_bench client PORT CONNECTIONS SECONDS SIZE\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  const auto port = static_cast<std::uint16_t>(std::stoul(argv[2]));
  asio::io_context io(1);
  if (mode == "server" && argc == 3) {
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), port});
    asio::co_spawn(io, accept_loop(a), asio::detached);
    io.run();
    return 0;
  }
  if (mode != "client" || argc != 6) return usage();
  const std::size_t connections = std::stoul(argv[3]);
  const double seconds = std::stod(argv[4]);
  const std::size_t size = std::stoul(argv[5]);
  client_totals totals;
  const auto start = clock_type::now();
  const auto until = start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(seconds));
  for (std::size_t i = 0; i < connections; ++i)
    asio::co_spawn(io, client(port, until, size, totals), asio::detached);
  io.run();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  auto& m = totals.micros;
  std::sort(m.begin(), m.end());
  const auto pct = [&](double p) {
    return m.empty() ? 0u : m[std::min(m.size() - 1, static_cast<std::size_t>(m.size() * p))];
  };
  std::printf("  %zu requests in %.2fs (WebSocket messages of %zu bytes)\n", m.size(), elapsed,
              size);
  std::printf("Requests/sec: %.2f\n", static_cast<double>(m.size()) / elapsed);
  std::printf("     50%%  %uus\n", pct(0.50));
  std::printf("     99%%  %uus\n", pct(0.99));
  if (totals.failed) std::printf("  Non-2xx or 3xx responses: %zu\n", totals.failed);
  return totals.failed == connections ? 1 : 0;
}
