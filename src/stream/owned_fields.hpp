#pragma once
// Header fields the gateway makes itself for its own answers (a redirect's
// Location, a preflight's CORS fields): names and values are copied into one
// string that is reused from request to request, so making them allocates
// nothing once warm, and they are handed on as neutral fields, never as text.
#include <gateway/http.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gateway {

class owned_fields {
 public:
  void clear() noexcept {
    text_.clear();
    spans_.clear();
  }
  bool empty() const noexcept { return spans_.empty(); }
  // Bytes of room held (kept by clear()).
  std::size_t capacity() const noexcept {
    return text_.capacity() + spans_.capacity() * sizeof(span);
  }
  std::size_t size() const noexcept { return spans_.size(); }
  // A view of field `i`, valid until the next change to this object.
  http::header operator[](std::size_t i) const noexcept {
    const span& s = spans_[i];
    return {std::string_view(text_).substr(s.name_at, s.name_size),
            std::string_view(text_).substr(s.value_at, s.value_size)};
  }
  // Copies one field in.
  void add(std::string_view name, std::string_view value) {
    span s;
    s.name_at = static_cast<std::uint32_t>(text_.size());
    s.name_size = static_cast<std::uint32_t>(name.size());
    text_.append(name);
    s.value_at = static_cast<std::uint32_t>(text_.size());
    s.value_size = static_cast<std::uint32_t>(value.size());
    text_.append(value);
    spans_.push_back(s);
  }
  // Appends views of the fields to `out`; they are valid until the next
  // change to this object.
  void append_to(std::vector<http::header>& out) const {
    for (std::size_t i = 0; i < spans_.size(); ++i)
      out.push_back((*this)[i]);
  }

 private:
  struct span {
    std::uint32_t name_at, name_size, value_at, value_size;
  };
  std::string text_;
  std::vector<span> spans_;
};

}  // namespace gateway
