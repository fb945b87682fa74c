#include "http2/session_core.hpp"

namespace gateway::http2 {

session_core::~session_core() {
  nghttp2_session_del(session_);
}

bool session_core::pending(std::string& out, std::size_t limit) {
  bool any = false;
  while (out.size() < limit) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    any = true;
  }
  return any;
}

bool session_core::want_read() const noexcept {
  return nghttp2_session_want_read(session_) != 0;
}

bool session_core::want_write() const noexcept {
  return nghttp2_session_want_write(session_) != 0;
}

void session_core::resume(std::int32_t id) {
  nghttp2_session_resume_data(session_, id);
}

void session_core::reset(std::int32_t id, std::uint32_t error) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error);
}

void session_core::consume(std::int32_t id, std::size_t n) {
  if (n == 0) return;
  if (nghttp2_session_consume(session_, id, n) != 0)  // the stream is gone: the connection's share
    nghttp2_session_consume_connection(session_, n);
}

void session_core::announce(std::span<const nghttp2_settings_entry> entries, std::uint32_t window) {
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, entries.data(), entries.size());
  const std::int32_t more =
      static_cast<std::int32_t>(window) - NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE;
  if (more > 0) nghttp2_submit_window_update(session_, NGHTTP2_FLAG_NONE, 0, more);
}

void session_core::end_body(std::int32_t id, std::uint32_t* flags,
                            std::span<const http::header> trailers) {
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (trailers.empty()) return;
  block_.clear();
  block_.add_fields(trailers);
  const auto nv = block_.pairs();
  if (nghttp2_submit_trailer(session_, id, nv.data(), nv.size()) == 0)
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
}

}  // namespace gateway::http2
