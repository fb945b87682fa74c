#pragma once
// HTTP/1.x message heads: finding the end of a head in a byte buffer, parsing it
// into views (no copies, no allocation once the header vector has grown), and
// deciding its framing strictly so that no request can be read two ways
// (RFC 9112 §6, the request smuggling rules).
#include <gateway/http.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace gateway::http1 {

// What framing analysis found, shared by requests and responses.
struct message_head {
  std::vector<http::header> headers;  // views into the parsed buffer; capacity is reused
  std::vector<std::string_view> connection_tokens;  // field names listed in Connection
  int version_major = 1;                            // 2 for a head an HTTP/2 stream carried
  int version_minor = 1;
  std::size_t head_size = 0;  // bytes of the head including the blank line
  bool chunked = false;
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool has_transfer_encoding = false;

  void clear() noexcept;
  // True when the peer wants the connection kept after this message.
  bool wants_keep_alive() const noexcept {
    return version_minor >= 1 ? !connection_close : connection_keep_alive && !connection_close;
  }
};

// A parsed request head; views borrow the buffer it was parsed from.
struct request_head : message_head {
  std::string_view method;
  std::string_view target;
  std::string_view host;   // Host header value (or absolute-form authority)
  std::string_view path;   // target up to '?' (origin-form, or taken from absolute-form)
  std::string_view query;  // after '?', without it
  bool expect_continue = false;
  bool absolute_form = false;  // the target named the authority (it replaced Host)
  bool grpc = false;           // its Content-Type is gRPC's (or gRPC-Web's)
  std::string_view upgrade;    // the Upgrade field, when Connection names it
  void clear() noexcept;
};

// A parsed response head.
struct response_head : message_head {
  int status = 0;
  std::string_view reason;
  void clear() noexcept;
};

// Limits checked while a request head is read.
struct head_limits {
  std::size_t max_line = 8 * 1024;
  std::size_t max_head = 64 * 1024;
  std::size_t max_headers = 100;
};

// Finds the end of a head across reads without rescanning what it already saw.
// Our rule for line ends (RFC 9112 §2.2 lets a recipient choose): CRLF only. A
// bare LF anywhere in a head is an error at once, so a peer never waits for a
// timeout and nothing is read with other line boundaries than an upstream's.
class head_scanner {
 public:
  // Offset just past "\r\n\r\n" in `buffer`, or 0 while the head is incomplete
  // (then bare_lf() says whether what came so far is already malformed).
  std::size_t find_end(std::string_view buffer) noexcept;
  // True once the incomplete head seen by find_end holds an LF without its CR.
  bool bare_lf() const noexcept { return bare_lf_; }
  void reset() noexcept {
    scanned_ = 0;
    bare_lf_ = false;
  }

 private:
  std::size_t scanned_ = 0;
  bool bare_lf_ = false;
};

// For an incomplete request head of `buffer` bytes: 0 while more may come,
// otherwise the status to answer (414 for an overlong request line, 431 for an
// overlong head).
int incomplete_request_status(std::string_view buffer, const head_limits& limits) noexcept;

// Parses a complete request head (`head` ends with the blank line) and analyses
// its framing. Returns 0, or the status to answer with (400, 414, 417, 431,
// 501, 505); the connection must close after any error.
int parse_request_head(std::string_view head, request_head& out,
                       const head_limits& limits) noexcept;

// Parses a complete response head. Returns 0, 502 when it is malformed or
// its framing is ambiguous, or 431 when it has more than `max_headers` fields
// (refused as well: the code only says which limit it was).
int parse_response_head(std::string_view head, response_head& out,
                        std::size_t max_headers) noexcept;

// Whether the comma-separated field value `list` holds `token` (any case).
bool lists_token(std::string_view list, std::string_view token) noexcept;
// Whether every element of `list` is `token` (any case); true for an empty list.
bool lists_only(std::string_view list, std::string_view token) noexcept;

// Methods that RFC 9110 §9.2.2 calls idempotent.
bool is_idempotent(std::string_view method) noexcept;

// True if `name` is a hop-by-hop field (RFC 9110 §7.6.1) or named in `tokens`.
bool is_hop_by_hop(std::string_view name,
                   const std::vector<std::string_view>& connection_tokens) noexcept;

}  // namespace gateway::http1
