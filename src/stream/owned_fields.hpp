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
    for (const span& s : spans_)
      out.push_back({std::string_view(text_).substr(s.name_at, s.name_size),
                     std::string_view(text_).substr(s.value_at, s.value_size)});
  }

 private:
  struct span {
    std::uint32_t name_at, name_size, value_at, value_size;
  };
  std::string text_;
  std::vector<span> spans_;
};

}  // namespace gateway
