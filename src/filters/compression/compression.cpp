// "compression": gzip or brotli for responses the client accepts it for
// (Accept-Encoding with q-values), of the configured content types and at
// least `minContentLength` bytes when the length is known. Streaming: each
// piece of the upstream body is compressed and flushed as it arrives, so a
// slow stream (server-sent events) is not held back. The strong ETag becomes
// weak and Vary gets Accept-Encoding.
#include <brotli/encode.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/json_config.hpp"

namespace gateway::filters {
namespace {

enum class coding : std::uint8_t { none, gzip, brotli };

struct compression_config {
  std::vector<coding> prefer;  // order of preference among those the client accepts
  std::vector<std::string> content_types;
  std::uint64_t min_length = 1024;
  int gzip_level = 6;
  int brotli_quality = 4;
};

// The q-value the client gives `name` in Accept-Encoding (0 when absent or refused).
double accepts(std::string_view header, std::string_view name) {
  double star = 0;
  bool named = false;
  double q_named = 0;
  while (!header.empty()) {
    std::size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header.remove_prefix(comma == std::string_view::npos ? header.size() : comma + 1);
    std::size_t semi = item.find(';');
    std::string_view token = item.substr(0, semi);
    while (!token.empty() && token.front() == ' ')
      token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ')
      token.remove_suffix(1);
    double q = 1;
    if (semi != std::string_view::npos) {
      std::string_view params = item.substr(semi + 1);
      std::size_t at = params.find("q=");
      if (at != std::string_view::npos)
        q = std::atof(std::string(params.substr(at + 2, 5)).c_str());
    }
    if (token == "*") star = q;
    if (http::iequals(token, name)) {
      named = true;
      q_named = q;
    }
  }
  return named ? q_named : star;
}

class compression_filter final : public filter {
 public:
  explicit compression_filter(const compression_config& c) : c_(c) {}
  ~compression_filter() override {
    if (gzip_started_) deflateEnd(&z_);
    if (brotli_) BrotliEncoderDestroyInstance(brotli_);
  }

  filter_status on_request(filter_context& ctx) override {
    if (ctx.method() == "HEAD") return filter_status::next;
    auto accept = ctx.request_headers().get("accept-encoding");
    if (!accept) return filter_status::next;
    double best = 0;
    for (coding c : c_.prefer) {
      double q = accepts(*accept, c == coding::gzip ? "gzip" : "br");
      if (q > best) {
        best = q;
        chosen_ = c;
      }
    }
    return filter_status::next;
  }

  filter_status on_response(filter_context& ctx) override {
    if (chosen_ == coding::none) return filter_status::next;
    header_map& h = ctx.response_headers();
    const int status = ctx.response_status();
    bool go = status >= 200 && status != 204 && status != 304 && !h.get("content-encoding");
    if (auto cc = h.get("cache-control");
        go && cc && cc->find("no-transform") != std::string_view::npos)
      go = false;
    if (go) {
      auto type = h.get("content-type").value_or("");
      bool listed = false;
      for (const auto& t : c_.content_types)
        listed = listed || (type.size() >= t.size() && http::iequals(type.substr(0, t.size()), t));
      go = listed;
    }
    if (auto length = h.get("content-length"); go && length) {
      std::uint64_t n = 0;
      for (char ch : *length)
        n = n * 10 + static_cast<std::uint64_t>(ch - '0');
      go = n >= c_.min_length;
    }
    if (!go || !start()) {
      chosen_ = coding::none;
      return filter_status::next;
    }
    h.remove("content-length");
    h.set("content-encoding", chosen_ == coding::gzip ? "gzip" : "br");
    if (auto vary = h.get("vary")) {
      if (vary->find('*') == std::string_view::npos)
        h.set("vary", std::string(*vary) + ", accept-encoding");
    } else {
      h.set("vary", "accept-encoding");
    }
    if (auto etag = h.get("etag"); etag && !etag->starts_with("W/"))
      h.set("etag", "W/" + std::string(*etag));
    active_ = true;
    return filter_status::next;
  }

  filter_status on_response_body(filter_context&, body_chunk& chunk) override {
    if (!active_) return filter_status::next;
    out_.clear();
    if (chosen_ == coding::gzip)
      deflate_piece(chunk.data, chunk.end_of_stream);
    else
      brotli_piece(chunk.data, chunk.end_of_stream);
    chunk.data = out_;
    return filter_status::next;
  }

 private:
  bool start() {
    if (chosen_ == coding::gzip) {
      // windowBits 15 + 16: a gzip wrapper rather than zlib's.
      gzip_started_ =
          deflateInit2(&z_, c_.gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
      return gzip_started_;
    }
    brotli_ = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
    if (!brotli_) return false;
    BrotliEncoderSetParameter(brotli_, BROTLI_PARAM_QUALITY,
                              static_cast<std::uint32_t>(c_.brotli_quality));
    return true;
  }

  void deflate_piece(std::string_view in, bool end) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    const int flush = end ? Z_FINISH : Z_SYNC_FLUSH;
    int rc;
    do {
      const std::size_t before = out_.size();
      out_.resize(before + 16384);
      z_.next_out = reinterpret_cast<Bytef*>(out_.data() + before);
      z_.avail_out = 16384;
      rc = deflate(&z_, flush);
      out_.resize(before + 16384 - z_.avail_out);
    } while (z_.avail_out == 0 || (end && rc == Z_OK));
  }

  void brotli_piece(std::string_view in, bool end) {
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    const BrotliEncoderOperation op = end ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
    for (;;) {
      std::size_t avail_out = 0;
      if (!BrotliEncoderCompressStream(brotli_, op, &avail_in, &next_in, &avail_out, nullptr,
                                       nullptr))
        return;  // cannot happen with valid input; the client sees a short body
      std::size_t size = 0;
      const std::uint8_t* produced = BrotliEncoderTakeOutput(brotli_, &size);
      out_.append(reinterpret_cast<const char*>(produced), size);
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(brotli_) &&
          (!end || BrotliEncoderIsFinished(brotli_)))
        return;
    }
  }

  const compression_config& c_;
  coding chosen_ = coding::none;
  bool active_ = false;
  bool gzip_started_ = false;
  z_stream z_{};
  BrotliEncoderState* brotli_ = nullptr;
  std::string out_;
};

}  // namespace

std::shared_ptr<const filter_factory> make_compression(std::string_view json) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "",
               {"encodings", "contentTypes", "minContentLength", "gzipLevel", "brotliQuality"});
  compression_config c;
  auto encodings = strings_field(o, "encodings", "");
  if (encodings.empty()) encodings = {"br", "gzip"};
  for (std::size_t i = 0; i < encodings.size(); ++i) {
    if (encodings[i] == "gzip")
      c.prefer.push_back(coding::gzip);
    else if (encodings[i] == "br")
      c.prefer.push_back(coding::brotli);
    else
      config_error(index_path("encodings", i), "must be gzip or br");
  }
  c.content_types = strings_field(o, "contentTypes", "");
  if (c.content_types.empty())
    c.content_types = {"text/",           "application/json", "application/javascript",
                       "application/xml", "image/svg+xml",    "application/wasm"};
  c.min_length =
      static_cast<std::uint64_t>(int_field(o, "minContentLength", "", 0, INT64_MAX).value_or(1024));
  c.gzip_level = static_cast<int>(int_field(o, "gzipLevel", "", 1, 9).value_or(6));
  c.brotli_quality = static_cast<int>(int_field(o, "brotliQuality", "", 0, 11).value_or(4));
  return make_factory<compression_filter>(std::move(c),
                                          hook_request | hook_response | hook_response_body);
}

}  // namespace gateway::filters
