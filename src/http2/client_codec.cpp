#include "http2/client_codec.hpp"

#include <memory>
#include <new>

namespace gateway::http2 {

namespace {
std::string_view view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}
}  // namespace

// nghttp2's callbacks, forwarding to the owner's events.
struct client_callbacks {
  static client_codec& codec(void* user) { return *static_cast<client_codec*>(user); }

  static int header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                    std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                    std::uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;  // PUSH_PROMISE: push is off
    if (!codec(user).events_.on_response_field(frame->hd.stream_id, view(name, namelen),
                                               view(value, valuelen)))
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM for this stream only
    return 0;
  }

  static int frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    client_codec& c = codec(user);
    const bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        c.events_.on_response_block(frame->hd.stream_id, end);
        break;
      case NGHTTP2_DATA:
        if (end) c.events_.on_response_end(frame->hd.stream_id);
        break;
      case NGHTTP2_GOAWAY:
        c.events_.on_goaway(frame->goaway.last_stream_id, frame->goaway.error_code);
        break;
      default:
        break;
    }
    return 0;
  }

  static int data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                        std::size_t len, void* user) {
    codec(user).events_.on_response_data(id, view(data, len));
    return 0;
  }

  static int stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error, void* user) {
    codec(user).events_.on_stream_close(id, error);
    return 0;
  }

  static ssize_t read_data(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* user) {
    client_codec& c = codec(user);
    const client_events::read_result r =
        c.events_.read_request(id, reinterpret_cast<char*>(buf), length);
    if (r.later && r.size == 0) return NGHTTP2_ERR_DEFERRED;
    if (r.end) c.end_body(id, flags, c.events_.request_trailers(id));
    return static_cast<ssize_t>(r.size);
  }
};

client_codec::client_codec(client_events& events, const client_settings& s) : events_(events) {
  nghttp2_session_callbacks* cb = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0) throw std::bad_alloc();
  std::unique_ptr<nghttp2_session_callbacks, void (*)(nghttp2_session_callbacks*)> cb_owner(
      cb, nghttp2_session_callbacks_del);
  nghttp2_session_callbacks_set_on_header_callback(cb, client_callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, client_callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, client_callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, client_callbacks::stream_close);
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) throw std::bad_alloc();
  std::unique_ptr<nghttp2_option, void (*)(nghttp2_option*)> opt_owner(opt, nghttp2_option_del);
  // The window opens again only as the client takes the body (consume), so
  // a slow client slows the upstream instead of filling memory.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, s.assumed_peer_streams);
  nghttp2_option_set_max_send_header_block_length(opt, 256 * 1024);
  if (nghttp2_session_client_new2(&session_, cb, this, opt) != 0) throw std::bad_alloc();
  const nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s.initial_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, s.max_header_list},
  };
  announce(iv, s.initial_connection_window);
}

bool client_codec::receive(std::string_view bytes) {
  const ssize_t n = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  if (n < 0) {
    nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
    return false;
  }
  return true;
}

std::int32_t client_codec::request(const request_start& r) {
  block_.clear();
  block_.add(":method", r.method);
  block_.add(":scheme", r.scheme);
  block_.add(":authority", r.authority);
  block_.add(":path", r.path);
  block_.add_fields(r.fields, "host");
  const auto nv = block_.pairs();
  nghttp2_data_provider body{};
  body.read_callback = client_callbacks::read_data;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                                 r.has_body ? &body : nullptr, nullptr);
  return id > 0 ? id : 0;
}

std::uint32_t client_codec::peer_max_streams() const noexcept {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

bool client_codec::accepts_requests() const noexcept {
  return nghttp2_session_check_request_allowed(session_) != 0;
}

}  // namespace gateway::http2
