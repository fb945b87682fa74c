#pragma once
// One head as nghttp2 takes it (name/value pairs, names lowercase), built
// from the gateway's neutral fields. The storage is reused from head to head;
// nghttp2 copies what it is given on submit, so the block only has to live
// until then (a server stream builds its response head in one when the
// response starts, and submits it with the first body bytes).
#include <gateway/http.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nghttp2/nghttp2.h>

namespace gateway::http2 {

// Fields HTTP/2 carries in other ways, or forbids (RFC 9113 §8.2.2); `name` lowercase.
bool connection_specific(std::string_view name, std::string_view value) noexcept;

class header_block {
 public:
  void clear() noexcept {
    text_.clear();
    at_.clear();
  }
  bool empty() const noexcept { return at_.empty(); }
  // Bytes of room held (kept by clear()).
  std::size_t capacity() const noexcept {
    return text_.capacity() + at_.capacity() * sizeof(field_at) +
           nva_.capacity() * sizeof(nghttp2_nv);
  }
  // Copies one field as it is (a pseudo-field, or a name already lowercase).
  void add(std::string_view name, std::string_view value);
  // Copies `fields` with their names lowercased, leaving out the
  // connection-specific ones and those named `leave_out` (lowercase: a
  // client's Host, which :authority says; a Content-Length to be replaced).
  void add_fields(std::span<const http::header> fields, std::string_view leave_out = {});
  // The pairs for nghttp2, valid until the next change.
  std::span<const nghttp2_nv> pairs();

 private:
  struct field_at {
    std::uint32_t name, name_size, value, value_size;
  };
  std::string text_;
  std::vector<field_at> at_;
  std::vector<nghttp2_nv> nva_;
};

}  // namespace gateway::http2
