#pragma once
// Reading the server name from the start of a TLS connection without
// terminating it (TLS passthrough): the ClientHello's server_name extension
// (RFC 6066 §3), whose handshake message may span several records (RFC 8446
// §5.1). Nothing is decrypted or answered; the bytes go on unchanged.
#include <cstddef>
#include <string>
#include <string_view>

namespace gateway::tls {

// How far the bytes read so far go.
enum class hello_status : unsigned char {
  need_more,  // a valid beginning: read more and ask again
  complete,   // the whole ClientHello is there (`server_name` is set)
  not_tls,    // not a TLS ClientHello (or one beyond `max_hello` bytes)
};

struct client_hello {
  hello_status status = hello_status::need_more;
  // The host_name the client asked for, lower-cased without a trailing
  // dot; empty when it sent none. Points into `storage`.
  std::string_view server_name;
};

// Largest ClientHello handshake message taken (post-quantum key shares make
// them a few KiB; 64 KiB is far beyond any real one).
inline constexpr std::size_t max_hello = 64 * 1024;

// Reads what `bytes` (the connection's first bytes) hold. `storage` holds
// the name (and, when the message spans records, the message joined).
client_hello read_client_hello(std::string_view bytes, std::string& storage);

}  // namespace gateway::tls
