#include "server/path_normalizer.hpp"

namespace gateway {

bool needs_normalization(std::string_view path) noexcept {
  for (std::size_t i = path.find("/."); i != std::string_view::npos; i = path.find("/.", i + 1)) {
    std::string_view rest = path.substr(i + 2);
    if (rest.empty() || rest.front() == '/') return true;                          // "/."
    if (rest.front() == '.' && (rest.size() == 1 || rest[1] == '/')) return true;  // "/.."
  }
  return false;
}

void normalize_path(std::string_view path, std::string& out) {
  out.clear();
  out.reserve(path.size());
  while (!path.empty()) {
    // `path` always starts with '/' here; take one segment.
    std::size_t next = path.find('/', 1);
    std::string_view seg =
        path.substr(1, next == std::string_view::npos ? path.size() - 1 : next - 1);
    bool last = next == std::string_view::npos;
    if (seg == ".") {
      if (last) out.push_back('/');
    } else if (seg == "..") {
      auto cut = out.rfind('/');
      out.resize(cut == std::string::npos ? 0 : cut);
      if (last) out.push_back('/');
    } else {
      out.push_back('/');
      out.append(seg);
    }
    path = last ? std::string_view() : path.substr(next);
  }
  if (out.empty()) out.push_back('/');
}

}  // namespace gateway
