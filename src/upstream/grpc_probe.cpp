#include "upstream/grpc_probe.hpp"

#include <array>
#include <cstdint>
#include <vector>

#include "grpc/grpc_wire.hpp"
#include "http2/client_codec.hpp"

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

struct grpc_probe::call final : http2::client_events {
  call(std::string_view authority, bool https, std::string_view service)
      : codec(*this, http2::client_settings{}) {
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
    grpc::append_frame(message, body);
    static constexpr std::array<http::header, 3> fields = {
        http::header{"content-type"sv, "application/grpc"sv}, http::header{"te"sv, "trailers"sv},
        http::header{"user-agent"sv, "gateway-health-check"sv}};
    http2::request_start r;
    r.method = "POST";
    r.scheme = https ? "https"sv : "http"sv;
    r.authority = authority;
    r.path = "/grpc.health.v1.Health/Check";
    r.fields = fields;
    r.has_body = true;
    id = codec.request(r);
    if (id == 0) ended = true;
  }

  bool on_response_field(std::int32_t, std::string_view name, std::string_view value) override {
    if (name == ":status") http_status = std::string(value);
    if (name == "grpc-status") grpc_status = grpc::parse_status(value);
    if (name == "grpc-message") grpc_message = std::string(value);
    return true;
  }
  void on_response_block(std::int32_t, bool end) override {
    if (end) ended = true;
  }
  void on_response_data(std::int32_t sid, std::string_view data) override {
    if (answer.size() < 64 * 1024) answer.append(data);
    codec.consume(sid, data.size());
  }
  void on_response_end(std::int32_t) override { ended = true; }
  void on_stream_close(std::int32_t, std::uint32_t error) override {
    ended = true;
    reset = error;
  }
  void on_goaway(std::int32_t, std::uint32_t) override {}
  read_result read_request(std::int32_t, char* out, std::size_t room) override {
    const std::size_t n = std::min(room, body.size() - sent);
    std::copy_n(body.data() + sent, n, out);
    sent += n;
    return {n, sent == body.size(), false};
  }
  std::span<const http::header> request_trailers(std::int32_t) override { return {}; }

  http2::client_codec codec;
  std::int32_t id = 0;
  std::string body;
  std::size_t sent = 0;
  bool ended = false;
  std::uint32_t reset = 0;
  std::string http_status;
  int grpc_status = -1;
  std::string grpc_message;
  std::string answer;
};

grpc_probe::grpc_probe(std::string_view authority, bool https, std::string_view service)
    : call_(std::make_unique<call>(authority, https, service)) {}

grpc_probe::~grpc_probe() = default;

bool grpc_probe::pending(std::string& out) {
  return call_->codec.pending(out, 64 * 1024);
}

bool grpc_probe::receive(std::string_view bytes) {
  return call_->codec.receive(bytes);
}

bool grpc_probe::done() const noexcept {
  return call_->ended;
}

bool grpc_probe::serving(std::string& why) const {
  const call& c = *call_;
  if (c.http_status.empty()) {
    why = c.reset ? "stream reset (HTTP/2 error " + std::to_string(c.reset) + ")" : "no response";
    return false;
  }
  if (c.http_status != "200") {
    why = "HTTP status " + c.http_status;
    return false;
  }
  if (c.grpc_status != grpc::ok) {
    why = c.grpc_status < 0 ? std::string("no grpc-status")
                            : "grpc-status " + std::to_string(c.grpc_status) +
                                  (c.grpc_message.empty() ? "" : " (" + c.grpc_message + ")");
    return false;
  }
  std::string_view message;
  if (!grpc::unframe(c.answer, message)) {
    why = "no HealthCheckResponse message";
    return false;
  }
  const int status = health_status(message);
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
