#pragma once
// What the gateway knows of gRPC's use of HTTP/2 (the "gRPC over HTTP2"
// protocol): which requests are gRPC, the status codes, the grpc-timeout
// and grpc-message encodings. No I/O and no allocation beyond the output
// strings the caller owns.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::grpc {

// The gRPC status codes the gateway itself uses in its answers.
enum code : int {
  ok = 0,
  unknown = 2,
  deadline_exceeded = 4,
  permission_denied = 7,
  resource_exhausted = 8,
  internal = 13,
  unavailable = 14,
  unimplemented = 12,
  unauthenticated = 16,
};

// Whether a Content-Type names gRPC ("application/grpc", "+proto", "+json",
// and the gRPC-Web forms), case-insensitively.
bool is_grpc_content_type(std::string_view content_type) noexcept;

// The gRPC status an answer the gateway makes with HTTP `status` carries:
// the gRPC spec's HTTP-to-gRPC table (400 INTERNAL, 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, else
// UNKNOWN), except 413 (a message over the size allowed: RESOURCE_EXHAUSTED).
int status_for_http(int status) noexcept;

// The decimal text of a status code (0..16, else "2"), static storage.
std::string_view status_text(int code) noexcept;

// A grpc-timeout value ("100m", "5S": up to 8 digits and one of H M S m u n)
// as a duration, rounded up to a millisecond; nothing when it is malformed.
std::optional<std::chrono::milliseconds> parse_timeout(std::string_view value) noexcept;

// Appends `text` percent-encoded as a grpc-message value needs (bytes
// outside 0x20..0x7E, and '%').
void encode_message(std::string_view text, std::string& out);

// The status code a grpc-status value holds; -1 when it is not a number.
int parse_status(std::string_view value) noexcept;

// Appends `message` as one length-prefixed, uncompressed gRPC message.
void append_frame(std::string_view message, std::string& out);
// The first length-prefixed message of `bytes` (uncompressed); false when
// `bytes` do not start with a whole one.
bool unframe(std::string_view bytes, std::string_view& message) noexcept;

}  // namespace gateway::grpc
