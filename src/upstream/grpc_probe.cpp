#include "upstream/grpc_probe.hpp"

#include <fmt/format.h>
#include <array>
#include <cstdint>
#include <vector>

#include "grpc/grpc_wire.hpp"

namespace gateway {

using namespace std::string_view_literals;

namespace {

// A protobuf varint at `at` of `bytes`; false when it runs past the end.
bool read_varint(std::string_view bytes, std::size_t& at, std::uint64_t& out) {
  out = 0;
  for (int shift = 0; shift < 64 && at < bytes.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(bytes[at++]);
    out |= static_cast<std::uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// HealthCheckResponse.status (field 1, an enum); -1 when the message does not parse.
int health_status(std::string_view message) {
  int status = 0;  // proto3: a field left out is its zero value (UNKNOWN)
  std::size_t at = 0;
  while (at < message.size()) {
    std::uint64_t tag = 0, value = 0;
    if (!read_varint(message, at, tag)) return -1;
    switch (tag & 7) {
      case 0:  // varint
        if (!read_varint(message, at, value)) return -1;
        if (tag >> 3 == 1) status = static_cast<int>(value);
        break;
      case 1:  // 64-bit
        at += 8;
        break;
      case 2:  // length-delimited
        if (!read_varint(message, at, value)) return -1;
        at += value;
        break;
      case 5:  // 32-bit
        at += 4;
        break;
      default:
        return -1;
    }
    if (at > message.size()) return -1;
  }
  return status;
}

}  // namespace

std::string grpc_health_request(std::string_view service) {
  // HealthCheckRequest{service}: field 1, length-delimited.
  std::string message;
  if (!service.empty()) {
    message.push_back('\x0a');
    std::uint64_t n = service.size();
    for (; n >= 0x80; n >>= 7)
      message.push_back(static_cast<char>((n & 0x7F) | 0x80));
    message.push_back(static_cast<char>(n));
    message.append(service);
  }
  std::string body;
  grpc::append_frame(message, body);
  return body;
}

std::span<const http::header> grpc_health_fields() noexcept {
  static constexpr std::array<http::header, 3> fields = {
      http::header{"content-type"sv, "application/grpc"sv}, http::header{"te"sv, "trailers"sv},
      http::header{"user-agent"sv, "gateway-health-check"sv}};
  return fields;
}

bool grpc_serving(const outbound_response& c, std::string& why) {
  if (c.status == 0) {
    why = c.why.empty() ? std::string("no response") : c.why;
    return false;
  }
  if (c.status != 200) {
    why = fmt::format("HTTP status {}", c.status);
    return false;
  }
  const auto grpc_status = c.field("grpc-status");
  const int code = grpc_status ? grpc::parse_status(*grpc_status) : -1;
  if (code != grpc::ok) {
    const auto message = c.field("grpc-message");
    why = code < 0 ? (c.complete ? std::string("no grpc-status") : c.why)
                   : "grpc-status " + std::to_string(code) +
                         (message && !message->empty() ? " (" + std::string(*message) + ")" : "");
    return false;
  }
  std::string_view response;
  if (!grpc::unframe(c.body, response)) {
    why = "no HealthCheckResponse message";
    return false;
  }
  const int status = health_status(response);
  if (status != 1) {  // SERVING
    static constexpr std::array<const char*, 4> names = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                                         "SERVICE_UNKNOWN"};
    why = status >= 0 && status < 4
              ? std::string("status ") + names[static_cast<std::size_t>(status)]
              : std::string("a HealthCheckResponse that does not parse");
    return false;
  }
  return true;
}

}  // namespace gateway
