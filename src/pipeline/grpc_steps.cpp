// The gRPC side of a stream: which requests are gRPC (or gRPC-Web), the
// gRPC answers the gateway makes itself (Trailers-Only), the grpc-status a
// response carried, and gRPC-Web's translation to and from gRPC.
#include "grpc/grpc_wire.hpp"
#include "stream/stream.hpp"
#include "tls/digest.hpp"

namespace gateway {

using namespace std::string_view_literals;

void stream::begin_grpc() {
  grpc_ = request_.grpc;
  grpc_code_ = -1;
  grpc_web_ = grpc_web_text_ = false;
  if (grpc_) {
    if (const http::header* type = http::find_header(request_.headers, "content-type");
        type && type->value.size() > 16 && http::iequals(type->value.substr(16, 4), "-web"))
      grpc_web_request(type->value);
    // The client's deadline (grpc-timeout) bounds the wait for the answer,
    // and a malformed one is refused as gRPC servers refuse it.
    if (const http::header* h = http::find_header(request_.headers, "grpc-timeout")) {
      if (const auto t = grpc::parse_timeout(h->value)) {
        const std::chrono::milliseconds d = std::max(*t, std::chrono::milliseconds(1));
        request_timeout_ = request_timeout_.count() > 0 ? std::min(request_timeout_, d) : d;
        try_timeout_ = try_timeout_.count() > 0 ? std::min(try_timeout_, d) : d;
      } else {
        grpc_code_ = grpc::internal;
      }
    }
  }
}

void stream::grpc_answer(int& status, std::string_view& body) {
  if (const http::header* given = http::find_header(reply_fields_, "grpc-status")) {
    record_.grpc_status = grpc::parse_status(given->value);  // a filter's gRPC answer
    return;
  }
  const int code = grpc_code_ >= 0 ? grpc_code_ : grpc::status_for_http(status);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
    body.remove_suffix(1);
  grpc_text_.clear();
  grpc::encode_message(body, grpc_text_);
  std::erase_if(reply_fields_, [](const http::header& h) {
    return http::iequals(h.name, "content-type") || http::iequals(h.name, "content-length");
  });
  reply_fields_.push_back(
      {"content-type"sv, grpc_web_ ? std::string_view(grpc_web_type_) : "application/grpc"sv});
  reply_fields_.push_back({"grpc-status"sv, grpc::status_text(code)});
  if (!grpc_text_.empty()) reply_fields_.push_back({"grpc-message"sv, grpc_text_});
  record_.grpc_status = code;
  status = 200;
  body = {};
}

void stream::grpc_web_request(std::string_view content_type) {
  // "application/grpc-web" + suffix: the upstream gets "application/grpc" + suffix.
  std::string_view suffix = content_type.substr(20);
  grpc_web_text_ = suffix.size() >= 5 && http::iequals(suffix.substr(0, 5), "-text");
  if (grpc_web_text_) suffix.remove_prefix(5);
  grpc_web_ = true;
  grpc_web_carry_.clear();
  grpc_web_body_.clear();
  grpc_web_type_.assign(content_type);
  grpc_type_.assign("application/grpc"sv).append(suffix);
  for (http::header& h : request_.headers)
    if (http::iequals(h.name, "content-type")) h.value = grpc_type_;
}

bool stream::grpc_web_trailers() {
  grpc_web_frame_.clear();
  if (!response_trailers_.empty()) {
    std::string block;
    for (const http::header& h : response_trailers_) {
      for (const char c : h.name)
        block.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
      block.append(": "sv).append(h.value).append("\r\n"sv);
    }
    grpc::append_frame(block, grpc_web_frame_);
    grpc_web_frame_[0] = '\x80';  // the trailers frame's flag
    response_trailers_.clear();
  }
  if (grpc_web_text_) {  // the body so far ends its base64 groups; the frame is its own
    std::string text = tls::base64_encode(grpc_web_carry_);
    grpc_web_carry_.clear();
    if (!grpc_web_frame_.empty()) text.append(tls::base64_encode(grpc_web_frame_));
    grpc_web_frame_.swap(text);
  }
  return !grpc_web_frame_.empty();
}

asio::const_buffer stream::web_text(std::span<const asio::const_buffer> pieces, bool end) {
  for (const asio::const_buffer& b : pieces)
    grpc_web_carry_.append(static_cast<const char*>(b.data()), b.size());
  const std::size_t whole = end ? grpc_web_carry_.size() : grpc_web_carry_.size() / 3 * 3;
  grpc_web_out_ = tls::base64_encode(std::string_view(grpc_web_carry_).substr(0, whole));
  grpc_web_carry_.erase(0, whole);
  return asio::buffer(grpc_web_out_);
}

asio::awaitable<bool> stream::read_web_text(int& status, std::string_view& why) {
  // gRPC-Web requests are one message (browsers cannot stream them), so the
  // body is read whole, up to the rule's body limit (else 4 MiB).
  const std::uint64_t limit = max_request_body_ ? max_request_body_ : 4 << 20;
  body_view v;
  for (;;) {
    pieces_.clear();
    v = down_->peek_body(pieces_);
    if (v.error) {
      status = 400;
      why = "malformed request body\n";
      co_return false;
    }
    if (v.bytes > limit) {
      status = 413;
      why = "request body too large\n";
      co_return false;
    }
    if (v.end) break;
    const auto room = static_cast<std::size_t>(limit + limit / 8 + 64 * 1024);
    if (const body_read r = co_await down_->read_body(room); r != body_read::ok) {
      if (r == body_read::late) co_await refuse_body(send_result::client_late);
      co_return false;  // status 0: the client is gone, or was answered
    }
  }
  std::string text;
  for (const asio::const_buffer& b : pieces_)
    text.append(static_cast<const char*>(b.data()), b.size());
  down_->release_body();
  // Groups of four, each padded or not: clients may send several pieces.
  grpc_web_body_.clear();
  for (std::size_t at = 0; at < text.size(); at += 4) {
    const auto part = tls::base64_decode(std::string_view(text).substr(at, 4));
    if (!part) {
      status = 400;
      why = "the gRPC-Web text body is not base64\n";
      co_return false;
    }
    grpc_web_body_.append(*part);
  }
  request_length_ = grpc_web_body_.size();
  request_chunked_ = false;
  co_return true;
}

void stream::note_grpc_status(std::span<const http::header> fields) noexcept {
  if (const http::header* h = http::find_header(fields, "grpc-status"))
    record_.grpc_status = grpc::parse_status(h->value);
}

}  // namespace gateway
