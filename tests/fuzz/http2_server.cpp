// Our side of nghttp2 on a client connection: the server codec's callbacks,
// the request head's limits and its translation into the HTTP/1.1-shaped
// head (pseudo-fields, cookies, Content-Length, WebSocket CONNECT, trailers),
// and the response head going the other way. Two modes by the first byte:
//  even: the rest is what a client sends after its preface (raw frames).
//  odd:  the rest describes requests (fields from a vocabulary of pseudo-
//        fields, framing fields and arbitrary text, bodies, trailers) that an
//        nghttp2 client session sends as it would, however wrong; responses
//        with connection-specific and mixed-case fields go back, and the
//        client session reads them without HTTP checks, so the test sees
//        what we sent.
// Properties: a head served has an origin-form target split into path and
// query, a method, no pseudo-field among its fields, one cookie field, one
// Content-Length that every such field agreed on, a WebSocket CONNECT as a
// GET with one key; a response head has its :status first and once, names
// in lower case and no connection-specific field.
#include <fuzzer/FuzzedDataProvider.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "http2/request_fields.hpp"
#include "http2/server_codec.hpp"

using namespace gateway;

namespace {

struct stream_state {
  http2::received_request in;
  http1::request_head head;
  bool head_done = false;
  bool answered = false;
  std::string body;  // the response body still to send
  std::vector<http::header> trailers;
};

const http2::request_limits limits{2048, 16};

class server final : public http2::codec_events {
 public:
  explicit server(FuzzedDataProvider& in) : in_(in), codec(*this, settings()) {}

  static http2::settings settings() {
    http2::settings s;
    s.max_concurrent_streams = 8;
    s.max_header_list = 4096;
    return s;
  }

  bool on_request_begin(std::int32_t id) override {
    FUZZ_CHECK(!streams.contains(id));
    // Every fifth stream is refused as a worker at its cap refuses it:
    // nothing more of it may reach the owner (a field would find no stream).
    if (id % 10 == 9) return false;
    streams[id];
    return true;
  }
  void on_request_refused(std::int32_t, bool) override {}
  bool on_request_field(std::int32_t id, std::string_view name, std::string_view value,
                        bool trailer) override {
    auto it = streams.find(id);
    FUZZ_CHECK(it != streams.end());
    // nghttp2 hands over names in lower case and no pseudo-field in trailers.
    for (char c : name)
      FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    return it->second.in.add(name, value, trailer, limits);
  }
  void on_request_head(std::int32_t id, bool end) override {
    stream_state& s = streams.at(id);
    FUZZ_CHECK(!s.head_done);
    s.head_done = true;
    s.in.to_http1(s.head, end);
    check_head(s);
  }
  void on_request_data(std::int32_t id, std::string_view data) override {
    codec.consume(id, data.size());
  }
  void on_request_end(std::int32_t) override {}
  void on_stream_close(std::int32_t id, std::uint32_t) override { streams.erase(id); }
  read_result read_response(std::int32_t id, char* out, std::size_t room) override {
    read_result r;
    auto it = streams.find(id);
    FUZZ_CHECK(it != streams.end());
    std::string& body = it->second.body;
    r.size = std::min(room, body.size());
    std::memcpy(out, body.data(), r.size);
    body.erase(0, r.size);
    r.end = body.empty();
    return r;
  }
  std::span<const http::header> response_trailers(std::int32_t id) override {
    return streams.at(id).trailers;
  }

  // Answers every head not yet answered, with what the input says.
  void answer() {
    for (auto& [id, s] : streams) {
      if (!s.head_done || s.answered) continue;
      s.answered = true;
      int status = s.in.refused();
      if (!status) status = in_.ConsumeIntegralInRange(100, 599);
      fields_.clear();
      const int n = in_.ConsumeIntegralInRange(0, 6);
      for (int i = 0; i < n; ++i)
        fields_.push_back({response_names[in_.ConsumeIntegralInRange<std::size_t>(
                               0, std::size(response_names) - 1)],
                           in_.ConsumeBool() ? "trailers" : "v"});
      const bool bodyless = in_.ConsumeBool();
      s.body.assign(in_.ConsumeIntegralInRange<std::size_t>(0, 40000), 'b');
      if (in_.ConsumeBool()) s.trailers = {{"grpc-status", "0"}, {"Connection", "x"}};
      if (status < 200) {
        codec.interim(id, status, fields_);
        status = 200;
      }
      expected_status[id] = status;
      codec.respond(id, status, fields_, bodyless);
    }
  }

  FuzzedDataProvider& in_;
  http2::server_codec codec;
  std::map<std::int32_t, stream_state> streams;
  std::map<std::int32_t, int> expected_status;

 private:
  static constexpr const char* response_names[] = {
      "Content-Type", "connection",   "Keep-Alive", "Transfer-Encoding", "upgrade",
      "TE",           "X-Mixed-Case", "set-cookie", "proxy-connection",  "content-length"};
  std::vector<http::header> fields_;

  // Whether `text` is the decimal `n` (leading zeros allowed).
  static bool same_number(std::string_view text, std::uint64_t n) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos)
      return false;
    while (text.size() > 1 && text[0] == '0')
      text.remove_prefix(1);
    return text == std::to_string(n);
  }

  static void check_head(stream_state& s) {
    const http1::request_head& rq = s.head;
    if (s.in.refused()) {
      FUZZ_CHECK(s.in.refused() == 400 || s.in.refused() == 431);
      return;
    }
    FUZZ_CHECK(!rq.method.empty());
    FUZZ_CHECK(!rq.target.empty() && (rq.target[0] == '/' || rq.target == "*"));
    FUZZ_CHECK(rq.path == rq.target.substr(0, rq.path.size()));
    if (rq.path.size() < rq.target.size())
      FUZZ_CHECK(rq.target[rq.path.size()] == '?' &&
                 rq.query == rq.target.substr(rq.path.size() + 1));
    std::size_t cookies = 0, keys = 0;
    for (const http::header& h : rq.headers) {
      FUZZ_CHECK(!h.name.starts_with(':'));
      if (h.name == "cookie") ++cookies;
      if (h.name == "sec-websocket-key") ++keys;
      if (h.name == "content-length")
        FUZZ_CHECK(rq.has_content_length && same_number(h.value, rq.content_length));
    }
    FUZZ_CHECK(cookies <= 1);
    if (s.in.websocket()) {
      FUZZ_CHECK(rq.method == "GET" && rq.upgrade == "websocket" && keys == 1);
    }
  }
};

// The client side: nghttp2 sends what it is given and reads the responses
// without HTTP checks, so the test sees every field as we sent it.
struct client {
  nghttp2_session* session = nullptr;
  server* peer = nullptr;
  std::map<std::int32_t, int> heads;  // response heads seen per stream

  explicit client(server& s) : peer(&s) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_http_messaging(opt, 1);
    nghttp2_session_client_new2(&session, cb, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~client() { nghttp2_session_del(session); }

  std::size_t fields_in_block = 0;
  bool trailers = false;                     // the block being read follows a final status
  std::map<std::int32_t, int> final_status;  // per stream, once seen

  static int on_begin(nghttp2_session*, const nghttp2_frame* f, void* user) {
    auto* c = static_cast<client*>(user);
    c->fields_in_block = 0;
    c->trailers = c->final_status.contains(f->hd.stream_id);
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n,
                       std::size_t nl, const std::uint8_t* v, std::size_t vl, std::uint8_t,
                       void* user) {
    auto* c = static_cast<client*>(user);
    const std::string_view name(reinterpret_cast<const char*>(n), nl);
    const std::string_view value(reinterpret_cast<const char*>(v), vl);
    const bool first = c->fields_in_block++ == 0;
    for (char ch : name)
      FUZZ_CHECK(!(ch >= 'A' && ch <= 'Z'));
    FUZZ_CHECK(name != "connection" && name != "keep-alive" && name != "proxy-connection" &&
               name != "transfer-encoding" && name != "upgrade");
    if (name == "te") FUZZ_CHECK(value == "trailers");
    // A head starts with its :status and has it once; trailers have none.
    if (first && !c->trailers) FUZZ_CHECK(name == ":status");
    if (name == ":status") {
      FUZZ_CHECK(first && !c->trailers && value.size() == 3);
      const int status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
      FUZZ_CHECK(status >= 100 && status <= 599);
      if (status >= 200) {
        const auto want = c->peer->expected_status.find(f->hd.stream_id);
        FUZZ_CHECK(want != c->peer->expected_status.end() && want->second == status);
        c->final_status[f->hd.stream_id] = status;
      }
    }
    return 0;
  }

  // Frames both ways until neither side has more (bounded).
  void exchange() {
    for (int round = 0; round < 64; ++round) {
      bool moved = false;
      const std::uint8_t* data = nullptr;
      for (ssize_t n; (n = nghttp2_session_mem_send(session, &data)) > 0;) {
        moved = true;
        if (!peer->codec.receive({reinterpret_cast<const char*>(data), std::size_t(n)})) return;
      }
      peer->answer();
      std::string out;
      while (peer->codec.pending(out, 64 * 1024)) {
      }
      if (!out.empty()) {
        moved = true;
        if (nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(out.data()),
                                     out.size()) < 0)
          return;
      }
      if (!moved) return;
    }
  }
};

const char* const request_names[] = {":method",           ":path",        ":scheme", ":authority",
                                     ":protocol",         ":status",      "host",    "cookie",
                                     "content-length",    "content-type", "te",      "connection",
                                     "sec-websocket-key", "x-a",          "Upper",   ""};
const char* const request_values[] = {"GET", "POST", "CONNECT", "/",         "/a?b=c",
                                      "*",   "http", "https",   "websocket", "a.example",
                                      "5",   "05",   "-1",      "trailers",  "application/grpc",
                                      "x=1", ""};

void raw(std::string_view bytes, FuzzedDataProvider& in) {
  server s(in);
  std::string frames(http2::client_preface);
  frames.append(bytes);
  if (s.codec.receive(frames)) s.answer();
  std::string out;
  while (s.codec.pending(out, 64 * 1024)) {
  }
}

void structured(FuzzedDataProvider& in) {
  server s(in);
  std::deque<std::string> bodies;  // request bodies: nghttp2 reads them as it sends
  client c(s);
  const int requests = in.ConsumeIntegralInRange(1, 6);
  for (int r = 0; r < requests && in.remaining_bytes() > 0; ++r) {
    std::vector<std::string> text;
    const int fields = in.ConsumeIntegralInRange(0, 12);
    for (int i = 0; i < fields; ++i) {
      text.push_back(in.ConsumeBool() ? request_names[in.ConsumeIntegralInRange<std::size_t>(
                                            0, std::size(request_names) - 1)]
                                      : in.ConsumeRandomLengthString(12));
      text.push_back(in.ConsumeBool() ? request_values[in.ConsumeIntegralInRange<std::size_t>(
                                            0, std::size(request_values) - 1)]
                                      : in.ConsumeRandomLengthString(24));
    }
    std::vector<nghttp2_nv> nva;
    for (std::size_t i = 0; i + 1 < text.size(); i += 2)
      nva.push_back({reinterpret_cast<std::uint8_t*>(text[i].data()),
                     reinterpret_cast<std::uint8_t*>(text[i + 1].data()), text[i].size(),
                     text[i + 1].size(), NGHTTP2_NV_FLAG_NONE});
    const bool body = in.ConsumeBool();
    const std::int32_t id =
        nghttp2_submit_headers(c.session, body ? NGHTTP2_FLAG_NONE : NGHTTP2_FLAG_END_STREAM, -1,
                               nullptr, nva.data(), nva.size(), nullptr);
    if (id < 0) continue;
    if (body) {
      c.exchange();
      // DATA and then maybe trailers (with whatever fields came next).
      nghttp2_data_provider provider{};
      provider.source.ptr = &bodies.emplace_back(in.ConsumeRandomLengthString(64));
      provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf,
                                  std::size_t length, std::uint32_t* flags,
                                  nghttp2_data_source* source, void*) -> ssize_t {
        auto* d = static_cast<std::string*>(source->ptr);
        const std::size_t n = std::min(length, d->size());
        std::memcpy(buf, d->data(), n);
        d->erase(0, n);
        if (d->empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
      if (nghttp2_submit_data(c.session, in.ConsumeBool() ? NGHTTP2_FLAG_END_STREAM : 0, id,
                              &provider) == 0)
        c.exchange();
      if (in.ConsumeBool())
        nghttp2_submit_headers(c.session, NGHTTP2_FLAG_END_STREAM, id, nullptr, nva.data(),
                               nva.size(), nullptr);
    }
    c.exchange();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  FuzzedDataProvider in(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    const std::string bytes = in.ConsumeRandomLengthString(size);
    raw(bytes, in);
  } else {
    structured(in);
  }
  return 0;
}
