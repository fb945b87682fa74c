#include "http2/server_codec.hpp"

#include <gateway/error.hpp>

#include <algorithm>
#include <charconv>
#include <memory>

namespace gateway::http2 {

namespace {
// The control-frame budget: what a connection starts with and may save up,
// and what a request and a DATA frame we send give back.
constexpr std::int64_t control_start = 1000;
constexpr std::int64_t control_cap = 10000;
constexpr std::int64_t control_per_request = 50;
constexpr std::int64_t control_per_data = 10;

std::string_view view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

}  // namespace

// nghttp2's callbacks, forwarding to the owner's events.
struct callbacks {
  static server_codec& codec(void* user) { return *static_cast<server_codec*>(user); }

  static int begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    server_codec& c = codec(user);
    if (!c.events_.on_request_begin(frame->hd.stream_id)) {
      // The head is still decoded (HPACK state is the connection's), its
      // fields ignored.
      c.refused_ = frame->hd.stream_id;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_REFUSED_STREAM);
    }
    return 0;
  }

  static int invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int error, void* user) {
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
      codec(user).events_.on_request_refused(frame->hd.stream_id,
                                             error != NGHTTP2_ERR_REFUSED_STREAM);
    return 0;
  }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                    std::uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id == codec(user).refused_) return 0;
    const bool trailer = frame->headers.cat != NGHTTP2_HCAT_REQUEST;
    if (!codec(user).events_.on_request_field(frame->hd.stream_id, view(name, namelen),
                                              view(value, valuelen), trailer))
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM for this stream only
    return 0;
  }

  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    server_codec& c = codec(user);
    const std::int32_t id = frame->hd.stream_id;
    const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    // Frames that ask work of us and carry none of a request's (control
    // frames, empty DATA) spend a budget that requests and the responses
    // we send refill: a flood of them ends the connection.
    const bool idle_work = frame->hd.type == NGHTTP2_PING || frame->hd.type == NGHTTP2_SETTINGS ||
                           frame->hd.type == NGHTTP2_WINDOW_UPDATE ||
                           frame->hd.type == NGHTTP2_PRIORITY ||
                           frame->hd.type == NGHTTP2_RST_STREAM ||
                           (frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 && !end);
    if (idle_work && --c.control_budget_ < 0) {
      c.flooded_ = true;
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (id == c.refused_) break;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) c.refill(control_per_request);
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
          c.events_.on_request_head(id, end);
        else if (end)  // trailers end the body
          c.events_.on_request_end(id);
        break;
      case NGHTTP2_DATA:
        if (end) c.events_.on_request_end(id);
        break;
      default:
        break;
    }
    return 0;
  }

  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                        std::size_t len, void* user) {
    codec(user).events_.on_request_data(id, view(data, len));
    return 0;
  }

  static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error, void* user) {
    codec(user).events_.on_stream_close(id, error);
    return 0;
  }

  static ssize_t read_data(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* user) {
    server_codec& c = codec(user);
    const codec_events::read_result r =
        c.events_.read_response(id, reinterpret_cast<char*>(buf), length);
    if (r.broken && r.size == 0) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM
    if (r.later && r.size == 0) return NGHTTP2_ERR_DEFERRED;
    c.refill(control_per_data);
    if (r.end) c.end_body(id, flags, c.events_.response_trailers(id));
    return static_cast<ssize_t>(r.size);
  }
};

server_codec::server_codec(codec_events& events, const settings& s)
    : events_(events), control_budget_(control_start) {
  nghttp2_session_callbacks* cb = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0) throw std::bad_alloc();
  std::unique_ptr<nghttp2_session_callbacks, void (*)(nghttp2_session_callbacks*)> cb_owner(
      cb, nghttp2_session_callbacks_del);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, callbacks::stream_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, callbacks::invalid_frame);
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) throw std::bad_alloc();
  std::unique_ptr<nghttp2_option, void (*)(nghttp2_option*)> opt_owner(opt, nghttp2_option_del);
  // The stream's reader says when body bytes are used (consume), so a slow
  // upstream slows the client instead of filling memory.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
  // Defences nghttp2 keeps for us (set here so they do not depend on its
  // defaults): streams reset faster than a token bucket refills end the
  // connection (CVE-2023-44487, rapid reset); a head in more than a few
  // CONTINUATION frames is refused (CVE-2024-28182); PING and SETTINGS
  // acknowledgements a client does not read stop at a bound (flood).
  nghttp2_option_set_stream_reset_rate_limit(opt, s.reset_burst, s.reset_rate);
  nghttp2_option_set_max_continuations(opt, s.max_continuations);
  nghttp2_option_set_max_outbound_ack(opt, s.max_outbound_ack);
  nghttp2_option_set_max_settings(opt, s.max_settings);
  if (nghttp2_session_server_new2(&session_, cb, this, opt) != 0) throw std::bad_alloc();
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, s.max_header_list},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, s.max_frame_size},
      // RFC 8441: WebSocket over a stream (extended CONNECT with :protocol).
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
  };
  announce(iv, s.initial_connection_window);
}

void server_codec::refill(std::int64_t n) noexcept {
  control_budget_ = std::min(control_budget_ + n, control_cap);
}

bool server_codec::receive(std::string_view bytes) {
  const ssize_t n = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  if (n < 0) {
    // A connection error nghttp2 did not answer itself (a bad preface, a
    // flood): say so before closing.
    nghttp2_session_terminate_session(session_, flooded_ || n == NGHTTP2_ERR_FLOODED
                                                    ? NGHTTP2_ENHANCE_YOUR_CALM
                                                    : NGHTTP2_PROTOCOL_ERROR);
    return false;
  }
  return true;
}

void server_codec::make_nva(int status, std::span<const http::header> fields) {
  block_.clear();
  if (status) {
    char digits[4];
    auto r = std::to_chars(digits, digits + sizeof digits, status);
    block_.add(":status", std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
  }
  block_.add_fields(fields);
}

bool server_codec::respond(std::int32_t id, int status, std::span<const http::header> fields,
                           bool bodyless) {
  make_nva(status, fields);
  return respond(id, block_, bodyless);
}

bool server_codec::respond(std::int32_t id, header_block& head, bool bodyless) {
  const auto nv = head.pairs();
  nghttp2_data_provider body{};
  body.read_callback = callbacks::read_data;
  return nghttp2_submit_response(session_, id, nv.data(), nv.size(), bodyless ? nullptr : &body) ==
         0;
}

bool server_codec::interim(std::int32_t id, int status, std::span<const http::header> fields) {
  make_nva(status, fields);
  const auto nv = block_.pairs();
  return nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nv.data(), nv.size(),
                                nullptr) >= 0;
}

std::int32_t server_codec::shut_down() {
  const std::int32_t last = nghttp2_session_get_last_proc_stream_id(session_);
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, nullptr, 0);
  return last;
}

void server_codec::terminate(std::uint32_t error) {
  nghttp2_session_terminate_session(session_, error);
}

}  // namespace gateway::http2
