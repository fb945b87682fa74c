// The compression filter through the gateway: the client's Accept-Encoding
// decides gzip or brotli, and the body decompresses to what the upstream sent.
#include <brotli/decode.h>
#include <doctest/doctest.h>
#include <zlib.h>

#include "gateway_fixture.hpp"
#include "test_http.hpp"

using namespace gwtest;

namespace {

std::string gunzip(const std::string& in) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[16384];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  return rc == Z_STREAM_END ? out : "<corrupt gzip>";
}

std::string unbrotli(const std::string& in) {
  std::string out(in.size() * 40 + 1024, '\0');
  std::size_t size = out.size();
  if (BrotliDecoderDecompress(in.size(), reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                              reinterpret_cast<std::uint8_t*>(out.data())) !=
      BROTLI_DECODER_RESULT_SUCCESS)
    return "<corrupt brotli>";
  out.resize(size);
  return out;
}

}  // namespace

TEST_SUITE("compression filter") {
  TEST_CASE("gzip and brotli by Accept-Encoding, type and size, streaming through chunks") {
    std::string text;
    for (int i = 0; text.size() < 50000; ++i)
      text += "line " + std::to_string(i) + " of a compressible response body\n";
    test_upstream up([&](const received_request& r) {
      response_plan p;
      p.body = r.target == "/small" ? "tiny" : text;
      p.headers = {{"content-type", r.target == "/png" ? "image/png" : "text/plain; charset=utf-8"},
                   {"etag", "\"v1\""}};
      if (r.target == "/chunked") p.mode = response_plan::framing::chunked;
      return p;
    });
    running_gateway gw(load_on_loopback(app_route_yaml(up.port()) + R"(---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: zip}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  compression: [{type: Brotli}, {type: Gzip}]
)"));
    auto get = [&](const std::string& target, const std::string& accept) {
      return request(gw.port(), "GET " + target + " HTTP/1.1\r\nhost: a\r\n" +
                                    (accept.empty() ? "" : "accept-encoding: " + accept + "\r\n") +
                                    "connection: close\r\n\r\n");
    };
    auto gz = get("/", "gzip");
    REQUIRE(gz.status == 200);
    CHECK(gz.header("content-encoding") == "gzip");
    CHECK(gz.header("vary") == "accept-encoding");
    CHECK(gz.header("etag") == "W/\"v1\"");
    CHECK(gz.count("content-length") == 0);
    CHECK(gz.body.size() < text.size() / 4);
    CHECK(gunzip(gz.body) == text);

    auto br = get("/", "gzip, deflate, br");
    CHECK(br.header("content-encoding") == "br");
    CHECK(unbrotli(br.body) == text);
    auto chunked = get("/chunked", "br");
    CHECK(chunked.header("content-encoding") == "br");
    CHECK(unbrotli(chunked.body) == text);

    CHECK(get("/", "br;q=0, gzip;q=0.5").header("content-encoding") == "gzip");
    auto plain = get("/", "");
    CHECK(plain.count("content-encoding") == 0);
    CHECK(plain.body == text);
    CHECK(get("/", "identity").count("content-encoding") == 0);
    auto small = get("/small", "gzip");
    CHECK(small.count("content-encoding") == 0);
    CHECK(small.body == "tiny");
    CHECK(get("/png", "gzip").count("content-encoding") == 0);
  }
}
