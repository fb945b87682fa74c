#include "http2/header_block.hpp"

#include <cstring>

#include "core/swar.hpp"

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

void header_block::add_fields(std::span<const http::header> fields, std::string_view leave_out) {
  for (const http::header& h : fields) {
    // Name and value in one step: the name is lowercased in place.
    const std::size_t start = text_.size();
    text_.resize(start + h.name.size() + h.value.size());
    char* const name = text_.data() + start;
    swar::lower_copy(name, h.name.data(), h.name.size());
    const std::string_view lower(name, h.name.size());
    if (connection_specific(lower, h.value) || lower == leave_out) {
      text_.resize(start);
      continue;
    }
    if (!h.value.empty()) std::memcpy(name + h.name.size(), h.value.data(), h.value.size());
    field_at f;
    f.name = static_cast<std::uint32_t>(start);
    f.name_size = static_cast<std::uint32_t>(h.name.size());
    f.value = static_cast<std::uint32_t>(start + h.name.size());
    f.value_size = static_cast<std::uint32_t>(h.value.size());
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
