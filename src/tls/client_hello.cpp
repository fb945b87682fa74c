#include "tls/client_hello.hpp"

#include <cstdint>

namespace gateway::tls {
namespace {

constexpr unsigned char handshake_record = 22;
constexpr unsigned char client_hello_type = 1;
constexpr std::size_t record_header = 5;
constexpr std::size_t max_record = (1u << 14) + 2048;  // plaintext bound, with room for padding

// A cursor over one message; every read checks its bounds.
struct reader {
  std::string_view in;
  bool ok = true;
  std::uint32_t number(std::size_t n) {
    if (in.size() < n) {
      ok = false;
      return 0;
    }
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v = (v << 8) | static_cast<unsigned char>(in[i]);
    in.remove_prefix(n);
    return v;
  }
  std::string_view bytes(std::size_t n) {
    if (in.size() < n) {
      ok = false;
      return {};
    }
    std::string_view v = in.substr(0, n);
    in.remove_prefix(n);
    return v;
  }
  std::string_view vector(std::size_t length_bytes) { return bytes(number(length_bytes)); }
};

// The host_name of a server_name extension's body; false when malformed.
bool read_server_name(std::string_view body, std::string& out) {
  reader r{body};
  reader list{r.vector(2)};
  if (!r.ok || !r.in.empty()) return false;
  while (list.ok && !list.in.empty()) {
    const std::uint32_t type = list.number(1);
    const std::string_view name = list.vector(2);
    if (!list.ok) return false;
    if (type != 0) continue;  // only host_name is defined
    if (name.empty() || name.size() > 255) return false;
    out.clear();
    for (char c : name) {
      // A DNS name: anything else (a NUL, a space) is a forged name.
      const bool fine = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                        c == '_' || (c >= 'A' && c <= 'Z');
      if (!fine) return false;
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
    }
    if (out.back() == '.') out.pop_back();
    return !out.empty();
  }
  return list.ok;
}

// The ClientHello body (after its 4-byte header): its server name, if any.
bool read_hello_body(std::string_view body, std::string& name) {
  reader r{body};
  r.number(2);                                // legacy_version
  r.bytes(32);                                // random
  if (r.vector(1).size() > 32) return false;  // legacy_session_id
  if (r.vector(2).empty()) return false;      // cipher_suites
  if (r.vector(1).empty()) return false;      // legacy_compression_methods
  if (!r.ok) return false;
  name.clear();
  if (r.in.empty()) return true;  // no extensions at all (TLS 1.2 and before allow it)
  reader ext{r.vector(2)};
  if (!r.ok || !r.in.empty()) return false;
  while (!ext.in.empty()) {
    const std::uint32_t type = ext.number(2);
    const std::string_view data = ext.vector(2);
    if (!ext.ok) return false;
    if (type == 0) return read_server_name(data, name);
  }
  return true;
}

}  // namespace

client_hello read_client_hello(std::string_view bytes, std::string& storage) {
  client_hello out;
  // The handshake message's bytes, record by record. The first record
  // usually holds it whole and is read in place.
  std::string_view first_fragment;
  bool joined = false;
  std::string joined_bytes;
  std::size_t message_length = 0;
  bool have_length = false;
  while (true) {
    if (bytes.size() < record_header) return out;  // need_more
    const auto type = static_cast<unsigned char>(bytes[0]);
    const auto major = static_cast<unsigned char>(bytes[1]);
    const std::size_t length =
        (static_cast<unsigned char>(bytes[3]) << 8) | static_cast<unsigned char>(bytes[4]);
    if (type != handshake_record || major != 3 || length == 0 || length > max_record) {
      out.status = hello_status::not_tls;
      return out;
    }
    if (bytes.size() < record_header + length) {
      // Say early when the start already is not a ClientHello.
      if (!have_length && bytes.size() > record_header &&
          static_cast<unsigned char>(bytes[record_header]) != client_hello_type)
        out.status = hello_status::not_tls;
      return out;
    }
    const std::string_view fragment = bytes.substr(record_header, length);
    bytes.remove_prefix(record_header + length);
    if (!have_length && first_fragment.empty() && !joined) {
      first_fragment = fragment;
    } else {
      if (!joined) joined_bytes.assign(first_fragment);
      joined = true;
      joined_bytes.append(fragment);
    }
    const std::string_view message = joined ? std::string_view(joined_bytes) : first_fragment;
    if (!have_length && message.size() >= 4) {
      if (static_cast<unsigned char>(message[0]) != client_hello_type) {
        out.status = hello_status::not_tls;
        return out;
      }
      message_length = (static_cast<unsigned char>(message[1]) << 16) |
                       (static_cast<unsigned char>(message[2]) << 8) |
                       static_cast<unsigned char>(message[3]);
      have_length = true;
      if (message_length > max_hello) {
        out.status = hello_status::not_tls;
        return out;
      }
    }
    if (have_length && message.size() >= 4 + message_length) {
      out.status = read_hello_body(message.substr(4, message_length), storage)
                       ? hello_status::complete
                       : hello_status::not_tls;
      if (out.status == hello_status::complete) out.server_name = storage;
      return out;
    }
  }
}

}  // namespace gateway::tls
