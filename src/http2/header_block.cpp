#include "http2/header_block.hpp"

namespace gateway::http2 {

bool connection_specific(std::string_view name, std::string_view value) noexcept {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade" ||
         (name == "te" && !http::iequals(value, "trailers"));
}

void header_block::add(std::string_view name, std::string_view value) {
  field_at f;
  f.name = static_cast<std::uint32_t>(text_.size());
  f.name_size = static_cast<std::uint32_t>(name.size());
  text_.append(name);
  f.value = static_cast<std::uint32_t>(text_.size());
  f.value_size = static_cast<std::uint32_t>(value.size());
  text_.append(value);
  at_.push_back(f);
}

void header_block::add_fields(std::span<const http::header> fields, bool without_host) {
  for (const http::header& h : fields) {
    const auto start = text_.size();
    for (const char c : h.name)
      text_.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
    const std::string_view lower = std::string_view(text_).substr(start);
    if (connection_specific(lower, h.value) || (without_host && lower == "host")) {
      text_.resize(start);
      continue;
    }
    field_at f;
    f.name = static_cast<std::uint32_t>(start);
    f.name_size = static_cast<std::uint32_t>(h.name.size());
    f.value = static_cast<std::uint32_t>(text_.size());
    f.value_size = static_cast<std::uint32_t>(h.value.size());
    text_.append(h.value);
    at_.push_back(f);
  }
}

std::span<const nghttp2_nv> header_block::pairs() {
  // Pointers are taken only now: the text no longer moves.
  nva_.clear();
  auto* base = reinterpret_cast<std::uint8_t*>(text_.data());
  for (const field_at& f : at_)
    nva_.push_back(
        {base + f.name, base + f.value, f.name_size, f.value_size, NGHTTP2_NV_FLAG_NONE});
  return nva_;
}

}  // namespace gateway::http2
